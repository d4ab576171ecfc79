// What happens to requests in flight when mqtt.js tears a session down. On a forced teardown
// (keepalive timeout, stream error, end(true)) mqtt.js fails every outstanding callback with
// "Connection closed" *before* it emits 'close' (a stream error takes the other path: 'close' first,
// no flush). These tests drive both directly on the real mqtt.js client of a real connection, so the
// order is the same on every run, however busy the machine: no timing decides which comes first.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { DEFAULT_BACKOFF } from '../../nodes/lib/backoff';
import { DeviceConnection, sessionEnded } from '../../nodes/lib/connection';
import type { DeviceOptions } from '../../nodes/lib/options';
import { deviceOptions } from '../helpers/device-options';
import { eventually, start } from '../helpers/emulator';
import { FaultProxy } from '../helpers/proxy';

const device = { productKey: 'pkTear', deviceName: 'tear-dev', deviceSecret: 'tear-secret' };

const optionsVia = (port: number, extra: Record<string, unknown> = {}): DeviceOptions =>
  deviceOptions(device, { host: '127.0.0.1', port, ...extra });

const FAST = { backoff: { ...DEFAULT_BACKOFF, baseMs: 50, maxMs: 200, jitter: 0 } };

/** The connection's current mqtt.js client (private: these tests reach under the hood on purpose). */
const clientOf = (connection: DeviceConnection) =>
  (connection as unknown as { phase: { session?: { client: MqttClient } } }).phase.session?.client;

interface Outcome {
  payload: string;
  err?: Error;
}

/**
 * Forwards again once the torn-down session's sockets are gone: bytes held for it must not reach the
 * broker on the old session and do there what the next session is supposed to do.
 */
async function resumeAfterTeardown(proxy: FaultProxy): Promise<void> {
  await eventually(() => proxy.connections === 0, 10_000, 'the old session gone from the proxy');
  proxy.resume();
}

describe('session teardown with requests in flight', () => {
  let emu: Emulator | undefined;
  let proxy: FaultProxy | undefined;
  let connection: DeviceConnection | undefined;
  afterEach(async () => {
    await connection?.close();
    await proxy?.close();
    await emu?.close();
    connection = proxy = emu = undefined;
  });

  /** Online through a proxy, with `count` QoS 1 messages written but held unacknowledged. */
  async function inFlight(count: number, extra: Record<string, unknown> = {}) {
    emu = await start({ devices: [device], rateLimit: 0 });
    proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    connection = new DeviceConnection(optionsVia(proxy.port, extra), FAST);
    const live = connection;
    live.connect();
    await eventually(() => live.state === 'connected', 10_000, 'connected');
    const seen: string[] = [];
    emu.broker.aedes.on('publish', (packet, client) => {
      if (client && packet.topic.endsWith('/user/t')) seen.push(packet.payload.toString());
    });
    proxy.pause();
    const outcomes: Outcome[] = [];
    for (let i = 0; i < count; i++) {
      const payload = `m${i}`;
      live.publish(`/${device.productKey}/${device.deviceName}/user/t`, payload, 1, (err) =>
        outcomes.push({ payload, err }),
      );
    }
    assert.equal(live.outbox.inflight, count, 'all written, none acknowledged');
    const first = clientOf(live);
    assert.ok(first);
    return { live, first, seen, outcomes, proxy };
  }

  for (const [name, tearDown] of [
    ['keepalive timeout', (c: MqttClient) => (c as unknown as { onKeepaliveTimeout(): void }).onKeepaliveTimeout()],
    ['forced clean-up', (c: MqttClient) => (c as unknown as { _cleanUp(forced: boolean): void })._cleanUp(true)],
    ['stream error', (c: MqttClient) => c.stream.destroy(new Error('read ECONNRESET'))],
  ] as const) {
    it(`${name}: unacknowledged QoS 1 messages are requeued in order and sent on the next session`, async () => {
      const { live, first, seen, outcomes, proxy } = await inFlight(5);
      const failedBeforeClose: Outcome[] = [];
      // The order under test: callbacks first, 'close' later.
      first.once('close', () => failedBeforeClose.push(...outcomes));
      tearDown(first);
      assert.equal(
        outcomes.length,
        0,
        `no publish settled by the teardown: ${outcomes.map((o) => o.err?.message).join()}`,
      );
      await resumeAfterTeardown(proxy);
      await eventually(() => outcomes.length === 5, 10_000, 'all five settled');
      assert.deepEqual(failedBeforeClose, []);
      assert.deepEqual(
        outcomes.map((o) => [o.payload, o.err]),
        [0, 1, 2, 3, 4].map((i) => [`m${i}`, undefined]),
      );
      assert.notEqual(clientOf(live), first, 'a new session');
      assert.equal(live.status.resent, 5);
      // In order on the new session (the held first copies may or may not have reached the broker).
      const resent = seen.slice(-5);
      assert.deepEqual(resent, ['m0', 'm1', 'm2', 'm3', 'm4']);
    });
  }

  it('close() while messages are in flight still fails them for good (no disk queue)', async () => {
    const { live, outcomes } = await inFlight(3);
    await live.close();
    assert.equal(outcomes.length, 3);
    for (const o of outcomes) assert.equal((o.err as { code?: string } | undefined)?.code, 'CONNECTION_CLOSED');
  });

  it('a subscription whose SUBACK was lost to a teardown is made again on the next session', async () => {
    const { live, first, proxy } = await inFlight(0);
    const filter = `/${device.productKey}/${device.deviceName}/user/get`;
    live.subscribe(filter, 1, () => undefined);
    (first as unknown as { _cleanUp(forced: boolean): void })._cleanUp(true);
    await resumeAfterTeardown(proxy);
    const record = emu!.registry.device(device.productKey, device.deviceName)!;
    await eventually(() => clientOf(live) !== first && live.state === 'connected', 10_000, 'next session');
    await eventually(() => record.subscriptions.has(filter), 10_000, 'subscribed again');
  });

  it('persistent session: a filter whose UNSUBSCRIBE was lost to a teardown is unsubscribed on the next session', async () => {
    const { live, first, proxy } = await inFlight(0, { cleanSession: false });
    const record = emu!.registry.device(device.productKey, device.deviceName)!;
    proxy.resume();
    const filter = `/${device.productKey}/${device.deviceName}/user/get`;
    const handle = live.subscribe(filter, 1, () => undefined);
    await eventually(() => record.subscriptions.has(filter), 10_000, 'subscribed');
    proxy.pause();
    handle.close(true);
    (first as unknown as { _cleanUp(forced: boolean): void })._cleanUp(true);
    await resumeAfterTeardown(proxy);
    await eventually(() => clientOf(live) !== first && live.state === 'connected', 10_000, 'next session');
    await eventually(() => !record.subscriptions.has(filter), 10_000, 'unsubscribed on the platform');
  });

  it('sessionEnded tells a torn-down session from a refused request', () => {
    const up = { connected: true, disconnecting: false };
    assert.equal(sessionEnded(up, new Error('Connection closed')), true);
    assert.equal(sessionEnded(up, new Error('client disconnecting')), true);
    assert.equal(sessionEnded({ connected: false, disconnecting: false }, new Error('x')), true);
    assert.equal(sessionEnded({ connected: true, disconnecting: true }, new Error('x')), true);
    assert.equal(sessionEnded(up, new Error('Invalid topic')), false);
  });
});
