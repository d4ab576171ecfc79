// Node-RED as a gateway: sub-device config nodes ride on their gateway's connection; the existing
// nodes work for them unchanged, through the emulator's gateway (topology, batch login, traffic).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { eventually } from '../helpers/emulator';
import { collect, connected, deviceConfig, helper, inject, NODES, nodeRedSuite } from '../helpers/flows';

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
    products: [{ productKey: gw.productKey, nodeType: 'gateway' }],
    devices: [gw, ...meters],
    rateLimit: 0,
  });
  let emu: Emulator;
  before(() => {
    emu = suite();
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
    await eventually(() => state() === 'auth-failed' && !record(meters[0]!).online, 5000, 'stopped while disabled');
    emu.gateways.setDisabled(record(meters[0]!), false);
    await eventually(() => state() === 'connected' && record(meters[0]!).online, 10_000, 'back after enable');
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
  it('refuses a sub-device whose gateway is missing or is a sub-device, or that registers, clearly', async () => {
    const flow = [
      { ...deviceConfig(emu, gw), id: 'gw' },
      subConfig('okSub', meters[0]!),
      subConfig('lost', meters[1]!, { gateway: 'nowhere' }),
      subConfig('nested', meters[2]!, { gateway: 'okSub' }),
      subConfig('reg', { ...meters[2]!, deviceName: 'meter-9' }, { authMode: 'register', productSecret: 'x' }),
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
});
