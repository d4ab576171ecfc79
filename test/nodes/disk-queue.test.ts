// The disk-backed offline queue: QoS 1 messages queued offline or in flight survive a restart and
// go out first after it, in order; the bound applies when a message is offered.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import type { DeviceConnection } from '../../nodes/lib/connection';
import { QueueJournal } from '../../nodes/lib/journal';
import { eventually, start } from '../helpers/emulator';
import { completions, credentialsFor, helper, inject, NODES, nodeRedHooks, stopLikeRestart } from '../helpers/flows';
import { FaultProxy } from '../helpers/proxy';

const device = { productKey: 'pkDisk', deviceName: 'disk-dev', deviceSecret: 'disk-device-secret' };

function flow(port: number, extra: Record<string, unknown> = {}) {
  return [
    {
      id: 'dev',
      type: 'aliyun-iot-device',
      productKey: device.productKey,
      deviceName: device.deviceName,
      endpoint: 'custom',
      host: '127.0.0.1',
      port: String(port),
      transport: 'tcp',
      keepalive: '60',
      rateLimit: '0',
      persistQueue: true,
      ...extra,
    },
    { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/disk', qos: '1' },
  ];
}

/** Payloads the broker accepted from the device, in arrival order. */
function arrivals(emu: Emulator, into: string[]): void {
  emu.broker.aedes.on('publish', (packet, client) => {
    if (client && packet.topic.endsWith('/user/disk')) into.push(packet.payload.toString());
  });
}

const connection = () => (helper.getNode('dev') as unknown as { connection: DeviceConnection }).connection;

describe('disk-backed offline queue', () => {
  let userDir = '';
  let emu: Emulator | undefined;
  let proxy: FaultProxy | undefined;
  const queueFiles = () => readdirSync(join(userDir, 'aliyun-iot', 'queue')).filter((f) => f.endsWith('.jsonl'));
  before(() => {
    userDir = mkdtempSync(join(tmpdir(), 'aliyun-iot-userdir-'));
    helper.settings({ userDir });
  });
  nodeRedHooks(
    () => emu,
    async () => {
      await proxy?.close();
      proxy = undefined;
      await emu?.close();
      emu = undefined;
      rmSync(join(userDir, 'aliyun-iot'), { recursive: true, force: true });
    },
  );
  after(() => {
    helper.settings({});
    rmSync(userDir, { recursive: true, force: true });
  });

  it('messages queued offline survive a restart and go out first, in order', async () => {
    // The device dials a proxy the test keeps: down at first, then in front of the emulator. A
    // restarted emulator could not count on getting its old port back from the OS.
    proxy = await FaultProxy.start();
    await helper.load(NODES, flow(proxy.port), credentialsFor(device));
    const list = completions('pub');
    for (let i = 1; i <= 5; i++) helper.getNode('pub')!.receive({ payload: `d${i}` });
    await eventually(() => connection().status.queued === 5, 2000, 'queued');
    await stopLikeRestart();
    // Safe on disk: the publishes complete without error.
    assert.deepEqual(
      list.map((c) => c.err),
      [undefined, undefined, undefined, undefined, undefined],
    );
    assert.equal(queueFiles().length, 1);

    emu = await start({ devices: [device], rateLimit: 0 });
    proxy.retarget({ host: emu.host, port: emu.ports.mqtt });
    const got: string[] = [];
    arrivals(emu, got);
    await helper.load(NODES, flow(proxy.port), credentialsFor(device));
    assert.equal(await inject('pub', { payload: 'after' }), undefined);
    const warned = (helper.getNode('dev') as unknown as { warn: { args: unknown[][] } }).warn.args;
    assert.ok(warned.some((a) => /5 QoS 1 messages kept on disk .* go out first/.test(String(a[0]))));
    await eventually(() => got.length === 6, 5000, 'delivered');
    assert.deepEqual(got, ['d1', 'd2', 'd3', 'd4', 'd5', 'after']);
    assert.equal(connection().status.restored, 5);
    const file = join(userDir, 'aliyun-iot', 'queue', queueFiles()[0]!);
    assert.deepEqual(new QueueJournal(file).restore(), [], 'nothing left on disk');
  });

  it('messages in flight at the restart (no PUBACK yet) are delivered after it', async () => {
    emu = await start({ devices: [device], rateLimit: 0 });
    const got: string[] = [];
    arrivals(emu, got);
    proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    await helper.load(NODES, flow(proxy.port), credentialsFor(device));
    await eventually(() => emu!.registry.device(device.productKey, device.deviceName)!.online, 5000, 'online');
    proxy.pause();
    for (let i = 1; i <= 3; i++) helper.getNode('pub')!.receive({ payload: `f${i}` });
    await eventually(
      () => (connection() as unknown as { outbox: { inflight: number } }).outbox.inflight === 3,
      2000,
      'in flight',
    );
    await stopLikeRestart();
    proxy.resume();
    await helper.load(NODES, flow(proxy.port), credentialsFor(device));
    await eventually(() => ['f1', 'f2', 'f3'].every((p) => got.includes(p)), 8000, 'delivered after the restart');
    const duplicates = got.length - new Set(got).size;
    console.log(`disk queue: 3 in flight at the restart, delivered after it, ${duplicates} duplicates`);
    assert.equal(connection().status.restored, 3);
  });

  it('the bound applies when offered: what does not fit fails at once', async () => {
    const first = await start({ devices: [device], rateLimit: 0 });
    const ports = first.ports;
    await first.close();
    await helper.load(NODES, flow(ports.mqtt, { queueSize: '2' }), credentialsFor(device));
    const list = completions('pub');
    for (let i = 1; i <= 3; i++) helper.getNode('pub')!.receive({ payload: `b${i}` });
    await eventually(() => list.length === 1, 2000, 'the third refused');
    assert.equal((list[0]!.err as { code?: string }).code, 'QUEUE_FULL');
    const file = join(userDir, 'aliyun-iot', 'queue', queueFiles()[0]!);
    assert.deepEqual(
      new QueueJournal(file).restore().map((e) => e.payload.toString()),
      ['b1', 'b2'],
    );
  });
});
