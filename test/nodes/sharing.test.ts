// One connection per device: shared by nodes and config nodes, handed over on redeploy.
import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { sharedPool } from '../../nodes/lib/pool';
import { eventually, sleep } from '../helpers/emulator';
import {
  collect,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedSuite,
  flowSubscriptions,
} from '../helpers/flows';

const device = { productKey: 'pkShare', deviceName: 'shared', deviceSecret: 'share-secret' };

describe('device nodes: sharing and redeploy', () => {
  const suite = nodeRedSuite({ devices: [device], rateLimit: 0 });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });
  const record = () => emu.registry.device(device.productKey, device.deviceName)!;
  afterEach(async () => {
    await eventually(() => !record().online, 3000, 'device offline');
  });

  it('two subscribe nodes with overlapping filters each get each matching message once', async () => {
    const flow = [
      deviceConfig(emu, device),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: '', qos: '1' },
      { id: 'all', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/#', qos: '1', wires: [['outAll']] },
      { id: 'one', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/+/temp', qos: '0', wires: [['outOne']] },
      { id: 'outAll', type: 'helper' },
      { id: 'outOne', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const all = collect('outAll');
    const one = collect('outOne');
    await connected(emu, device);
    await eventually(() => flowSubscriptions(record()) === 2, 5000, 'two subscriptions');
    for (const topic of ['user/room1/temp', 'user/room1/humidity', 'user/room2/temp']) {
      assert.equal(await inject('pub', { topic, payload: topic }), undefined);
    }
    await eventually(() => all.length === 3 && one.length === 2, 5000, 'deliveries');
    await sleep(200);
    assert.deepEqual(
      all.map((m) => m.payload),
      ['user/room1/temp', 'user/room1/humidity', 'user/room2/temp'],
    );
    assert.deepEqual(
      one.map((m) => m.payload),
      ['user/room1/temp', 'user/room2/temp'],
    );
  });

  it('50 subscribe nodes make one connection and one MQTT subscription per distinct filter', async () => {
    const filters = Array.from({ length: 10 }, (_, i) => (i % 5 === 0 ? `user/g${i}/#` : `user/g${i}/value`));
    const subs = Array.from({ length: 50 }, (_, i) => ({
      id: `s${i}`,
      type: 'aliyun-iot-subscribe',
      device: 'dev',
      topic: filters[i % filters.length],
      qos: '0',
      wires: [['out']],
    }));
    const connectsBefore = record().counters.connects;
    const requestsBefore = record().counters.subscribeRequests;
    await helper.load(
      NODES,
      [deviceConfig(emu, device), ...subs, { id: 'out', type: 'helper' }],
      credentialsFor(device),
    );
    const got = collect('out');
    await connected(emu, device);
    await eventually(() => flowSubscriptions(record()) === 10, 5000, 'ten subscriptions');
    await sleep(200);
    assert.equal(record().counters.connects - connectsBefore, 1);
    // Ten filters of the flow, and the connection's three lifecycle notices (PLATFORM.md §16.3).
    assert.equal(record().counters.subscribeRequests - requestsBefore, 13);
    await emu.platform.publishDown(`/${device.productKey}/${device.deviceName}/user/g3/value`, 'v', 0);
    await eventually(() => got.length === 5, 5000, 'five nodes share user/g3/value');
    await sleep(100);
    assert.equal(got.length, 5);
  });

  it('two config nodes with the same settings share one client', async () => {
    const flow = [
      deviceConfig(emu, device),
      { ...deviceConfig(emu, device), id: 'dev2', name: 'twin' },
      { id: 'p1', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/a' },
      { id: 'p2', type: 'aliyun-iot-publish', device: 'dev2', topic: 'user/b' },
    ];
    const before = record().counters.connects;
    await helper.load(NODES, flow, { ...credentialsFor(device), ...credentialsFor(device, 'dev2') });
    await connected(emu, device);
    assert.equal(await inject('p1', { payload: 1 }), undefined);
    assert.equal(await inject('p2', { payload: 2 }), undefined);
    await sleep(300);
    assert.equal(record().counters.connects - before, 1);
    assert.equal(record().counters.kicks, 0);
    assert.equal(sharedPool.size, 1);
  });

  it('a second config node with other settings is refused and told which node holds the device', async () => {
    const flow = [
      deviceConfig(emu, device, { name: 'first holder' }),
      { ...deviceConfig(emu, device), id: 'dev2', name: 'other', clientId: 'another-client' },
      { id: 'p1', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/a' },
      { id: 'p2', type: 'aliyun-iot-publish', device: 'dev2', topic: 'user/b' },
    ];
    await helper.load(NODES, flow, { ...credentialsFor(device), ...credentialsFor(device, 'dev2') });
    await connected(emu, device);
    const err = await inject('p2', { payload: 2 });
    assert.equal(err?.code, 'CONFIG_INVALID');
    assert.ok(err);
    assert.match(err.message, /first holder/);
    assert.equal(await inject('p1', { payload: 1 }), undefined);
    assert.equal(record().counters.kicks, 0);
  });

  it('a removed subscribe node drops its filter; a restarted one keeps it without a reconnect', async () => {
    const base = `/${device.productKey}/${device.deviceName}`;
    const flow = [
      deviceConfig(emu, device),
      { id: 'subA', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/a' },
      { id: 'subB', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/b' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);
    await eventually(() => flowSubscriptions(record()) === 2, 5000, 'two subscriptions');
    const connects = record().counters.connects;
    // subA changes name only: restarted, not removed. subB is deleted.
    const next = [flow[0]!, { ...flow[1]!, name: 'renamed' }];
    await helper.setFlows(next, 'nodes', credentialsFor(device));
    await eventually(() => !record().subscriptions.has(`${base}/user/b`), 3000, 'user/b unsubscribed');
    await sleep(600);
    assert.ok(record().subscriptions.has(`${base}/user/a`), 'user/a kept across the restart');
    assert.equal(record().counters.connects, connects);
  });

  it('redeploy: unchanged settings keep the connection, changed ones reconnect once, removal closes it', async () => {
    const base = [
      deviceConfig(emu, device),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/a', z: 'f1' },
      { id: 'sub', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/a', z: 'f1', wires: [['out']] },
      { id: 'out', type: 'helper', z: 'f1' },
    ];
    await helper.load(NODES, base, credentialsFor(device));
    await connected(emu, device);
    const connects = record().counters.connects;

    await helper.setFlows(base, 'full', credentialsFor(device));
    await sleep(500);
    assert.equal(record().counters.connects, connects, 'full deploy with the same settings: no reconnect');
    const got = collect('out');
    assert.equal(await inject('pub', { payload: 'after handover' }), undefined);
    await eventually(() => got.length === 1, 5000, 'message after handover');

    const changed = base.map((n) => (n.id === 'dev' ? { ...n, keepalive: '90' } : n));
    await helper.setFlows(changed, 'full', credentialsFor(device));
    await eventually(() => record().counters.connects === connects + 1 && record().online, 5000, 'one reconnect');
    await sleep(500);
    assert.equal(record().counters.connects, connects + 1, 'exactly one reconnect');
    assert.equal(record().counters.kicks, 0, 'the old connection logged out before the new one logged in');
    assert.equal(record().keepalive, 90);

    await helper.setFlows([], 'full');
    await eventually(() => !record().online, 3000, 'connection closed after the last node went');
    assert.equal(record().lastDisconnectReason, 'client-disconnect');
  });
});
