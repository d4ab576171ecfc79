// Node-RED as a gateway: sub-device config nodes ride on their gateway's connection; the existing
// nodes work for them unchanged, through the emulator's gateway (topology, batch login, traffic).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { eventually } from '../helpers/emulator';
import {
  collect,
  connected,
  deviceConfig,
  helper,
  inject,
  logged,
  NODES,
  nodeRedSuite,
  stopLikeRestart,
} from '../helpers/flows';
import { fileContextSettings, loadContextStores } from '../helpers/red-internals';

const gw = { productKey: 'pkNrGw', deviceName: 'edge-gw', deviceSecret: 'edge-gw-secret' };
const meters = [1, 2, 3].map((n) => ({
  productKey: 'pkMeter',
  deviceName: `meter-${n}`,
  deviceSecret: `m${n}-secret`,
}));

function subConfig(id: string, device: (typeof meters)[number], extra: Record<string, unknown> = {}) {
  return {
    id,
    type: 'aliyun-iot-device',
    name: device.deviceName,
    productKey: device.productKey,
    deviceName: device.deviceName,
    gateway: 'gw',
    rateLimit: '0',
    ...extra,
  };
}

const credentials = {
  gw: { deviceSecret: gw.deviceSecret },
  sub1: { deviceSecret: meters[0]!.deviceSecret },
  sub2: { deviceSecret: meters[1]!.deviceSecret },
  sub3: { deviceSecret: meters[2]!.deviceSecret },
};

describe('gateway and sub-devices in Node-RED', () => {
  const suite = nodeRedSuite({
    products: [
      { productKey: gw.productKey, nodeType: 'gateway' },
      // Dynamic registration on: its pre-registered devices get their secret once, via a gateway.
      { productKey: 'pkRegMeter', productSecret: 'reg-meter-product-secret' },
    ],
    devices: [gw, ...meters, { productKey: 'pkRegMeter', deviceName: 'reg-meter' }],
    rateLimit: 0,
  });
  let emu: Emulator;
  // A persistent context store, where registration through the gateway keeps what it obtained.
  let contextDir = '';
  before(() => {
    emu = suite();
    contextDir = mkdtempSync(join(tmpdir(), 'aliyun-iot-gw-context-'));
    helper.settings(fileContextSettings(contextDir));
  });
  after(() => {
    helper.settings({});
    rmSync(contextDir, { recursive: true, force: true });
  });
  const record = (d: { productKey: string; deviceName: string }) => emu.registry.device(d.productKey, d.deviceName)!;

  it('adds the topology, logs every sub-device in, and property posts of each reach the platform', async () => {
    const flow = [
      { ...deviceConfig(emu, gw), id: 'gw', rateLimit: '0' },
      subConfig('sub1', meters[0]!),
      subConfig('sub2', meters[1]!),
      subConfig('sub3', meters[2]!),
      ...[1, 2, 3].map((n) => ({
        id: `prop${n}`,
        type: 'aliyun-iot-property',
        device: `sub${n}`,
        wires: [[`out${n}`]],
      })),
      ...[1, 2, 3].map((n) => ({ id: `out${n}`, type: 'helper' })),
    ];
    await helper.load(NODES, flow, credentials);
    await connected(emu, gw);
    await eventually(() => meters.every((m) => record(m).online), 10_000, 'every sub-device online');
    const replies = [1, 2, 3].map((n) => collect(`out${n}`));
    for (const n of [1, 2, 3]) {
      assert.equal(await inject(`prop${n}`, { payload: { Power: n * 10 } }), undefined);
    }
    await eventually(() => replies.every((r) => r.length === 1), 5000, 'a post_reply each');
    assert.deepEqual(
      meters.map((m) => record(m).properties.Power),
      [10, 20, 30],
    );
    const state = () => (helper.getNode('sub1') as unknown as { connection: { state: string } }).connection.state;
    assert.equal(state(), 'connected');
    // The cloud disables a sub-device: it stops (no retries of its own); enabled again, it logs back in.
    emu.gateways.setDisabled(record(meters[0]!), true);
    await eventually(() => state() === 'disabled' && !record(meters[0]!).online, 5000, 'stopped while disabled');
    emu.gateways.setDisabled(record(meters[0]!), false);
    await eventually(() => state() === 'connected' && record(meters[0]!).online, 10_000, 'back after enable');
  });

  it('one disabled sub-device does not keep the others of its batch login out', async () => {
    // The platform refuses a batch login as a whole and names the sub-device at fault.
    emu.gateways.setDisabled(record(meters[1]!), true);
    try {
      const flow = [
        { ...deviceConfig(emu, gw), id: 'gw', rateLimit: '0' },
        subConfig('sub1', meters[0]!),
        subConfig('sub2', meters[1]!),
        subConfig('sub3', meters[2]!),
        // A config node connects once a node uses it.
        ...[1, 2, 3].map((n) => ({ id: `prop${n}`, type: 'aliyun-iot-property', device: `sub${n}` })),
      ];
      await helper.load(NODES, flow, credentials);
      const state = (id: string) =>
        (helper.getNode(id) as unknown as { connection: { state: string } }).connection.state;
      await eventually(
        () => record(meters[0]!).online && record(meters[2]!).online && state('sub2') === 'disabled',
        10_000,
        () => `the others online, the disabled one stopped: ${['sub1', 'sub2', 'sub3'].map(state).join(', ')}`,
      );
      assert.equal(record(meters[1]!).online, false);
    } finally {
      emu.gateways.setDisabled(record(meters[1]!), false);
    }
  });

  it('messages of a sub-device wait for its login; a gateway drop logs it in again', async () => {
    const flow = [
      { ...deviceConfig(emu, gw), id: 'gw', rateLimit: '0' },
      subConfig('sub1', meters[0]!),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'sub1', topic: 'user/update', qos: '1' },
      {
        id: 'sub',
        type: 'aliyun-iot-subscribe',
        device: 'sub1',
        topic: 'user/get',
        qos: '1',
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, { gw: credentials.gw, sub1: credentials.sub1 });
    // Sent at once, before the gateway is even connected: it waits in the sub-device's queue.
    const first = inject('pub', { payload: 'early' });
    assert.equal(await first, undefined);
    await eventually(() => record(meters[0]!).online, 10_000, 'sub-device online');
    const uplink = () => record(meters[0]!).uplink.map((m) => [m.topic, m.payload]);
    const last = (payload: string) => {
      const m = uplink().at(-1);
      return m?.[0] === '/pkMeter/meter-1/user/update' && m[1] === payload;
    };
    await eventually(() => last('early'), 5000, 'the early message reached the platform');
    // The platform drops the gateway: it reconnects and logs its sub-device in again.
    const seen: { state: string; reason?: string }[] = [];
    const sub1 = helper.getNode('sub1') as unknown as {
      connection: { on(e: 'state', l: (s: { state: string; reason?: string }) => void): void };
    };
    sub1.connection.on('state', (st) => seen.push(st));
    emu.broker.disconnect(record(gw), 'test');
    await eventually(() => !record(meters[0]!).online, 5000, 'logged out with its gateway');
    await eventually(
      () => seen.some((st) => st.state === 'disconnected' && st.reason === 'gateway-offline'),
      5000,
      'the sub-device reported its gateway offline',
    );
    await eventually(() => record(meters[0]!).online, 20_000, 'back online after the gateway reconnects');
    assert.equal(await inject('pub', { payload: 'after' }), undefined);
    await eventually(() => last('after'), 5000, 'the later message reached the platform');
  });

  // A config node naming itself is refused by Node-RED itself ("Circular config node dependency").
  it('refuses a sub-device whose gateway is missing or is a sub-device, or that wants a token, clearly', async () => {
    const flow = [
      { ...deviceConfig(emu, gw), id: 'gw' },
      subConfig('okSub', meters[0]!),
      subConfig('lost', meters[1]!, { gateway: 'nowhere' }),
      subConfig('nested', meters[2]!, { gateway: 'okSub' }),
      subConfig('reg', { ...meters[2]!, deviceName: 'meter-9' }, { authMode: 'https' }),
      { id: 'p1', type: 'aliyun-iot-publish', device: 'lost', topic: 'user/x' },
      { id: 'p2', type: 'aliyun-iot-publish', device: 'nested', topic: 'user/x' },
      { id: 'p3', type: 'aliyun-iot-publish', device: 'reg', topic: 'user/x' },
    ];
    await helper.load(NODES, flow, {
      gw: credentials.gw,
      okSub: credentials.sub1,
      lost: credentials.sub2,
      nested: credentials.sub3,
    });
    const codes = [];
    for (const id of ['p1', 'p2', 'p3']) {
      const err = await inject(id, { payload: 1 });
      codes.push(err?.code);
      assert.ok(!/m\d-secret|edge-gw-secret/.test(err?.message ?? ''), err?.message);
    }
    assert.deepEqual(codes, ['CONFIG_INVALID', 'CONFIG_INVALID', 'CONFIG_INVALID']);
    const problems = ['lost', 'nested', 'reg'].map(
      (id) => (helper.getNode(id) as unknown as { problem: string }).problem,
    );
    assert.match(problems[0]!, /nowhere is missing or invalid/);
    assert.match(problems[1]!, /itself a sub-device/);
    assert.match(problems[2]!, /sign/);
  });

  it("the gateway's connect node reads, adds and deletes topology, and passes the cloud's notices on", async () => {
    const extra = { productKey: 'pkMeter', deviceName: 'meter-3', deviceSecret: 'm3-secret' };
    const flow = [
      { ...deviceConfig(emu, gw), id: 'gw', rateLimit: '0' },
      subConfig('sub1', meters[0]!),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'gw', wires: [['out']] },
      { id: 'subConn', type: 'aliyun-iot-connect', device: 'sub1', wires: [[]] },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, { gw: credentials.gw, sub1: credentials.sub1 });
    const out = collect('out');
    await eventually(() => record(meters[0]!).online, 10_000, 'sub-device online');
    const byTopic = (topic: string) => out.filter((m) => m.topic === topic);
    /** The latest output on `topic`, once it arrived (outputs reach the helper node asynchronously). */
    const latest = async (topic: string, count: number) => {
      await eventually(() => byTopic(topic).length >= count, 5000, `${topic} output`);
      return byTopic(topic).at(-1)!.payload;
    };
    // Fuzzed payloads are refused with a code before anything is sent.
    for (const payload of [
      undefined,
      'x',
      [],
      [{}],
      [{ productKey: 'p' }],
      [null],
      [{ productKey: 1, deviceName: 'd' }],
    ]) {
      for (const action of ['topo-add', 'topo-delete', 'found']) {
        assert.equal((await inject('conn', { action, payload }))?.code, 'SUBDEVICES_INVALID', action);
      }
    }
    for (const action of ['topo', 'TOPOLOGY', 42, null]) {
      assert.equal((await inject('conn', { action }))?.code, 'ACTION_INVALID', String(action));
    }
    // Adding needs the secret to sign with; the output never carries it.
    const noSecret = [{ productKey: extra.productKey, deviceName: extra.deviceName }];
    assert.equal((await inject('conn', { action: 'topo-add', payload: noSecret }))?.code, 'SUBDEVICES_INVALID');
    assert.equal(await inject('conn', { action: 'topo-add', payload: [extra] }), undefined);
    assert.deepEqual(await latest('topo-add', 1), noSecret);
    assert.ok(!JSON.stringify(out).includes('m3-secret'), 'no secret in any output');
    assert.equal(await inject('conn', { action: 'topology' }), undefined);
    const listed = (await latest('topology', 1)) as { deviceName: string }[];
    // Earlier tests of this suite added meter-2 too: the emulator keeps topology, as the cloud does.
    assert.ok(
      ['meter-1', 'meter-3'].every((n) => listed.some((d) => d.deviceName === n)),
      JSON.stringify(listed),
    );
    assert.equal(await inject('conn', { action: 'topo-delete', payload: noSecret }), undefined);
    assert.equal(await inject('conn', { action: 'found', payload: noSecret }), undefined);
    // The platform's refusal comes back with its code: meter-3 is no longer in the topology.
    const refused = await inject('conn', { action: 'topo-delete', payload: noSecret });
    assert.equal(refused?.code, 6401);
    // A cloud-side change reaches the flow as a notice.
    emu.gateways.setDisabled(record(meters[0]!), true);
    await eventually(() => byTopic('topo-change').length > 0, 5000, 'topo-change notice');
    assert.deepEqual(byTopic('topo-change').at(-1)!.payload, {
      status: 8,
      subList: [{ productKey: meters[0]!.productKey, deviceName: meters[0]!.deviceName }],
    });
    emu.gateways.setDisabled(record(meters[0]!), false);
    // A sub-device's connect node has no topology, but logs out and in.
    assert.equal((await inject('subConn', { action: 'topology' }))?.code, 'ACTION_INVALID');
    const subState = () => (helper.getNode('sub1') as unknown as { connection: { state: string } }).connection.state;
    await eventually(() => subState() === 'connected', 10_000, 'back online after enable');
    assert.equal(await inject('subConn', { action: 'logout' }), undefined);
    await eventually(() => !record(meters[0]!).online, 5000, 'logged out');
    assert.equal(await inject('subConn', { action: 'login' }), undefined);
    await eventually(() => record(meters[0]!).online, 10_000, 'logged in again');
  });
  it('a sub-device in registration mode gets its DeviceSecret through the gateway, keeps it, and reuses it', async () => {
    const regMeter = { productKey: 'pkRegMeter', deviceName: 'reg-meter' };
    const flow = [
      { ...deviceConfig(emu, gw), id: 'gw', rateLimit: '0' },
      { ...subConfig('reg', { ...regMeter, deviceSecret: '' }), authMode: 'register' },
      { id: 'prop', type: 'aliyun-iot-property', device: 'reg', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, { gw: credentials.gw });
    await loadContextStores();
    await eventually(() => record(regMeter).online, 10_000, 'registered and online');
    assert.equal(record(regMeter).counters.registrations, 1);
    assert.equal(record(regMeter).via, `${gw.productKey}&${gw.deviceName}`);
    const replies = collect('out');
    assert.equal(await inject('prop', { payload: { Power: 7 } }), undefined);
    await eventually(() => replies.length === 1, 5000, 'post_reply');
    assert.equal(record(regMeter).properties.Power, 7);
    assert.deepEqual(logged('reg', 'warn'), [], 'a persistent store was found');
    const issued = record(regMeter).deviceSecret ?? '';
    assert.match(issued, /^[0-9a-f]{32}$/);

    // A restart: the kept secret logs it in; registering again would be refused (6289).
    await stopLikeRestart();
    await helper.load(NODES, flow, { gw: credentials.gw });
    await loadContextStores();
    await eventually(
      () => (helper.getNode('reg') as unknown as { connection: { state: string } }).connection.state === 'connected',
      10_000,
      'online again after the restart',
    );
    assert.equal(record(regMeter).counters.registrations, 1, 'did not register again');
    const said = [...logged('reg', 'warn'), ...logged('reg', 'error'), ...logged('gw', 'error')].join('\n');
    assert.ok(!said.includes(issued), 'the secret is never logged');
  });
});
