// The link misbehaving between the nodes and the emulator, through a fault proxy: a half-open link,
// a flapping link, and the broker restarted under load. Nothing is lost, nothing grows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import type { DeviceConnection } from '../../nodes/lib/connection';
import { eventually, sleep, start } from '../helpers/emulator';
import { collect, completions, connected, credentialsFor, helper, NODES, nodeRedHooks } from '../helpers/flows';
import { FaultProxy } from '../helpers/proxy';

const device = { productKey: 'pkLink', deviceName: 'link-dev', deviceSecret: 'link-secret' };

function configVia(host: string, port: number, extra: Record<string, unknown> = {}) {
  return {
    id: 'dev',
    type: 'aliyun-iot-device',
    productKey: device.productKey,
    deviceName: device.deviceName,
    endpoint: 'custom',
    host,
    port: String(port),
    transport: 'tcp',
    keepalive: '30',
    rateLimit: '0',
    queueSize: '100000',
    ...extra,
  };
}

const flow = (host: string, port: number) => [
  configVia(host, port),
  { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/seq', qos: '1' },
  { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
  { id: 'states', type: 'helper' },
];

/** Every payload the broker accepted from the device, duplicates included (the uplink log is bounded). */
function countUplink(emu: Emulator, into: Map<string, number>): void {
  emu.broker.aedes.on('publish', (packet, client) => {
    if (!client || packet.topic !== `/${device.productKey}/${device.deviceName}/user/seq`) return;
    const key = packet.payload.toString();
    into.set(key, (into.get(key) ?? 0) + 1);
  });
}

function connectionOf(): DeviceConnection {
  return (helper.getNode('dev') as unknown as { connection: DeviceConnection }).connection;
}

/** Timers and sockets of this process, by kind. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe('link faults', () => {
  let emu: Emulator;
  let proxy: FaultProxy | undefined;
  nodeRedHooks(
    () => emu,
    async () => {
      await proxy?.close();
      proxy = undefined;
      await emu.close();
    },
  );

  it('half-open link: noticed within keepalive x 1.5, recovered when traffic flows, the queue delivered', async () => {
    emu = await start({ devices: [device], rateLimit: 0 });
    proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    const seen = new Map<string, number>();
    countUplink(emu, seen);
    await helper.load(NODES, flow('127.0.0.1', proxy.port), credentialsFor(device));
    const states = collect('states');
    await connected(emu, device);
    proxy.pause();
    const pausedAt = Date.now();
    const pub = helper.getNode('pub')!;
    completions('pub');
    for (let i = 0; i < 5; i++) pub.receive({ payload: `h${i}` });
    await eventually(() => states.some((m) => m.topic !== 'connected'), 50_000, 'link loss noticed');
    const noticedMs = Date.now() - pausedAt;
    assert.ok(noticedMs <= 30_000 * 1.5 + 2000, `noticed after ${noticedMs} ms`);
    proxy.resume();
    await eventually(() => completions('pub').length === 5, 15_000, 'queue delivered');
    assert.deepEqual(
      completions('pub').map((c) => c.err),
      [undefined, undefined, undefined, undefined, undefined],
    );
    for (let i = 0; i < 5; i++) assert.ok(seen.has(`h${i}`), `h${i}`);
    assert.equal(connectionOf().state, 'connected');
  });

  it('flapping link: 50 cuts under QoS 1 traffic; ends connected, all delivered, no timer or socket growth', async () => {
    emu = await start({ devices: [device], rateLimit: 0 });
    proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    const seen = new Map<string, number>();
    countUplink(emu, seen);
    await helper.load(NODES, flow('127.0.0.1', proxy.port), credentialsFor(device));
    await connected(emu, device);
    const connection = connectionOf();
    await sleep(200);
    const before = resources();
    const listeners = connection.listenerCount('state');
    const pub = helper.getNode('pub')!;
    completions('pub');
    let sent = 0;
    const traffic = setInterval(() => pub.receive({ payload: `f${sent++}` }), 10);
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const live = proxy;
    for (let cut = 0; cut < 50; cut++) {
      // Each cut hits a live session, at a random moment of it.
      await eventually(() => connection.state === 'connected' && live.connections > 0, 10_000, `session ${cut}`);
      await sleep(Math.floor(random() * 150));
      live.cut();
    }
    clearInterval(traffic);
    await eventually(() => connection.state === 'connected', 10_000, 'connected at the end');
    await eventually(() => completions('pub').length === sent, 15_000, 'every publish settled');
    assert.deepEqual(
      completions('pub').filter((c) => c.err),
      [],
    );
    for (let i = 0; i < sent; i++) assert.ok(seen.has(`f${i}`), `f${i} delivered`);
    const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
    // Each cut ends a live session, so nearly every one is followed by a new login.
    assert.ok(proxy.accepted >= 45, `${proxy.accepted} connections`);
    console.log(
      `flapping: ${sent} QoS 1 messages, ${proxy.accepted} connections, ${duplicates} duplicates, resent ${connection.status.resent}`,
    );
    await sleep(500);
    const afterwards = resources();
    assert.equal(connection.listenerCount('state'), listeners);
    for (const kind of ['Timeout', 'TCPSocketWrap', 'TCPServerWrap']) {
      assert.ok((afterwards[kind] ?? 0) <= (before[kind] ?? 0) + 1, `${kind}: ${before[kind]} -> ${afterwards[kind]}`);
    }
  });

  it('10,000 QoS 1 messages while the broker restarts 3 times: all arrive, duplicates counted', async () => {
    emu = await start({ devices: [device], rateLimit: 0 });
    // Through a proxy the test keeps: each restarted emulator listens wherever the OS lets it.
    proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    const seen = new Map<string, number>();
    countUplink(emu, seen);
    await helper.load(NODES, flow('127.0.0.1', proxy.port), credentialsFor(device));
    const states = collect('states');
    await connected(emu, device);
    const pub = helper.getNode('pub')!;
    completions('pub');
    const total = 10_000;
    let sent = 0;
    // 20 messages every 10 ms: about 2,000/s, steady, for 5 s.
    const traffic = setInterval(() => {
      for (let i = 0; i < 20 && sent < total; i++) pub.receive({ payload: `r${sent++}` });
      if (sent >= total) clearInterval(traffic);
    }, 10);
    for (let restart = 0; restart < 3; restart++) {
      await sleep(1200);
      proxy.retarget(undefined);
      await emu.close();
      await sleep(300);
      emu = await start({ devices: [device], rateLimit: 0 });
      proxy.retarget({ host: emu.host, port: emu.ports.mqtt });
      countUplink(emu, seen);
    }
    await eventually(() => sent === total, 20_000, 'all offered');
    await eventually(() => completions('pub').length === total, 30_000, 'all settled');
    assert.deepEqual(
      completions('pub').filter((c) => c.err),
      [],
    );
    assert.equal(states.filter((m) => m.topic === 'connected').length, 4, 'logged in again after each restart');
    const missing = Array.from({ length: total }, (_, i) => `r${i}`).filter((k) => !seen.has(k));
    assert.deepEqual(missing, []);
    const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
    const { resent } = connectionOf().status;
    console.log(`broker restarts: ${total} QoS 1 messages, 0 lost, ${duplicates} duplicates seen, ${resent} resent`);
    assert.ok(duplicates <= resent, `duplicates ${duplicates} <= resent ${resent}`);
  });
});
