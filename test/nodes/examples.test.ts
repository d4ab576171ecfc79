// Every flow in examples/ runs against the emulator and does what its comment says.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import {
  DEMO_DEVICE,
  DEMO_GATEWAY,
  DEMO_GATEWAY_PRODUCT,
  DEMO_PRODUCT,
  DEMO_TSL,
  DEMO_SUB_DEVICES,
  DEMO_UNREGISTERED,
} from '../../emulator/cli-args';
import { eventually, https } from '../helpers/emulator';
import { readExample, type FlowNode } from '../helpers/examples';
import { collect, flowSubscriptions, helper, NODES, nodeRedSuite } from '../helpers/flows';

// Core nodes the examples use, loaded from the node-red devDependency.
const core = [
  'common/20-inject.js',
  'common/21-debug.js',
  'common/90-comment.js',
  'function/10-function.js',
  'function/10-switch.js',
  'function/15-change.js',
].map(
  (f) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(join(require.resolve('@node-red/nodes/package.json'), '..', 'core', f)) as unknown,
);

/** The example with its credentials split out, as the helper loads them. */
function loadExample(
  name: string,
  emu: Emulator,
): { flow: FlowNode[]; credentials: Record<string, Record<string, string>> } {
  const flow = readExample(name, emu);
  const credentials: Record<string, Record<string, string>> = {};
  for (const node of flow) {
    if (node.credentials) credentials[node.id] = node.credentials;
    delete node.credentials;
  }
  return { flow, credentials };
}

describe('examples/', () => {
  const suite = nodeRedSuite({
    devices: [DEMO_DEVICE, ...DEMO_UNREGISTERED, DEMO_GATEWAY, ...DEMO_SUB_DEVICES],
    // The demo product with its thing model: the emulator checks the examples' data as the platform would.
    products: [{ ...DEMO_PRODUCT, tsl: DEMO_TSL }, DEMO_GATEWAY_PRODUCT],
  });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });
  const demo = () => emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)!;

  it('publish: a reading arrives on user/update and the publish completes', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-publish', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const results = collect('ex-pub-debug');
    await eventually(() => demo().uplink.some((m) => m.topic === '/a1DemoPk/demo-device/user/update'), 8000, 'uplink');
    assert.deepEqual(JSON.parse(demo().uplink.at(-1)!.payload), { temperature: 21.5, humidity: 40 });
    await eventually(() => results.length > 0, 5000, 'complete node fired');
  });

  it('subscribe: a cloud downlink on user/get reaches the debug node', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-subscribe', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-sub-debug');
    await eventually(() => demo().subscriptions.has('/a1DemoPk/demo-device/user/get'), 8000, 'subscribed');
    await emu.platform.publishDown('/a1DemoPk/demo-device/user/get', JSON.stringify({ light: 'on' }), 1);
    await eventually(() => got.length === 1, 5000, 'downlink');
    assert.deepEqual(got[0]!.payload, { light: 'on' });
  });

  it('connect: state changes and the status action come out', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-connect', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-conn-debug');
    // The state change and the status injected 2 s after deploy.
    await eventually(() => got.filter((m) => m.topic === 'connected').length >= 2, 8000, 'connected, then status');
    assert.equal((got.at(-1)!.payload as { clientId: string }).clientId, 'a1DemoPk.demo-device');
  });

  it('device: a property post gets the platform post_reply and the value is kept', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-device', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-dev-debug');
    await eventually(() => got.length === 1, 8000, 'post_reply');
    assert.equal((got[0]!.payload as { code: number }).code, 200);
    assert.equal(demo().properties.LightSwitch, 1);
  });

  it('auth: a signed login, and demo-child-1 registered with its config node', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-auth', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-auth-debug');
    helper.getNode('ex-auth-sign-inject')!.receive({});
    helper.getNode('ex-auth-register-inject')!.receive({});
    await eventually(() => got.length === 2, 8000, 'both credentials');
    const payloads = got.map((m) => m.payload as Record<string, unknown>);
    const signed = payloads.find((p) => 'password' in p)!;
    assert.equal(signed.username, 'demo-device&a1DemoPk');
    assert.equal(signed.url, `mqtts://${emu.host}:${emu.ports.mqtts}`);
    const registered = payloads.find((p) => 'deviceSecret' in p)!;
    assert.equal(registered.deviceName, 'demo-child-1');
    assert.equal(emu.registry.device('a1DemoPk', 'demo-child-1')!.deviceSecret, registered.deviceSecret);
  });

  it('auth-https: the token login connects and publishes', async () => {
    const { flow, credentials } = loadExample('auth-https', emu);
    const tokens = demo().counters.tokens;
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-https-debug');
    await eventually(() => got.some((m) => m.topic === 'connected'), 8000, 'connected');
    assert.equal(demo().counters.tokens, tokens + 1);
    await eventually(() => demo().uplink.some((m) => m.payload === '{"temperature":22}'), 5000, 'published');
  });

  it('auth-register: demo-register obtains its secret and connects', async () => {
    const { flow, credentials } = loadExample('auth-register', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-register-debug');
    await eventually(() => got.some((m) => m.topic === 'connected'), 8000, 'connected');
    assert.equal(emu.registry.device('a1DemoPk', 'demo-register')!.counters.registrations, 1);
  });

  it('property: Temperature and Humidity posted, the post_reply comes out', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-property', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-prop-debug');
    await eventually(() => got.length === 1, 8000, 'post_reply');
    assert.equal((got[0]!.payload as { code: number }).code, 200);
    assert.equal(demo().properties.Humidity, 40);
  });

  it('event: Alarm posted, the post_reply comes out', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-event', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-event-debug');
    await eventually(() => got.length === 1, 8000, 'post_reply');
    assert.equal((got[0]!.payload as { code: number }).code, 200);
    assert.equal(demo().uplink.at(-1)!.topic, '/sys/a1DemoPk/demo-device/thing/event/Alarm/post');
  });

  it('command: a property set and an RRPC service call are answered with their params', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-command', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-cmd-debug');
    await eventually(() => flowSubscriptions(demo()) >= 3, 8000, 'subscribed');
    const set = await emu.platform.callThing(demo(), 'property/set', { LightSwitch: 1 }, 3000);
    assert.deepEqual(set.reply, { id: set.id, code: 200, data: { LightSwitch: 1 } });
    const rrpc = await emu.platform.rrpcService(demo(), 'Echo', { n: 1 }, 3000);
    assert.deepEqual(rrpc.reply, { id: rrpc.id, code: 200, data: { n: 1 } });
    assert.deepEqual(
      got.map((m) => m.topic),
      ['property/set', 'service/Echo'],
    );
  });

  it('time: the platform time comes out', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-time', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-time-debug');
    await eventually(() => got.length === 1, 8000, 'time');
    assert.ok(Math.abs((got[0]!.payload as { offset: number }).offset) < 50);
  });

  it('gateway: three meters post as sub-devices through one connection; a service of one is answered', async () => {
    const { flow, credentials } = loadExample('gateway', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const replies = collect('ex-gw-debug');
    const meter = (n: number) => emu.registry.device('a1DemoSub', `demo-sub-${n}`)!;
    await eventually(() => [1, 2, 3].every((n) => meter(n).online), 10_000, 'every meter online');
    await eventually(() => replies.length >= 3, 8000, 'a post_reply per meter');
    assert.ok([1, 2, 3].every((n) => typeof meter(n).properties.Power === 'number'));
    // The gateway's connection carries the sub-device's subscriptions, made after its login.
    const gateway = emu.registry.device(DEMO_GATEWAY.productKey, DEMO_GATEWAY.deviceName)!;
    const subscribed = () => [...gateway.subscriptions.keys()].some((f) => f.startsWith('/sys/a1DemoSub/demo-sub-2/'));
    await eventually(subscribed, 5000, "meter 2's service filter subscribed");
    assert.equal(gateway.online, true);
    const call = await emu.platform.callThing(meter(2), 'ToggleRelay', { On: 1 }, 5000);
    assert.deepEqual(call.reply, { id: call.id, code: 200, data: { Relay: 1 } });
  });

  it('shadow: a desired state set while the flow was down is applied, reported and cleared', async () => {
    const path = '/api/devices/a1DemoPk/demo-device/shadow';
    assert.equal((await https(emu, 'POST', path, { desired: { LightSwitch: 1 } })).status, 200);
    const { flow, credentials } = loadExample('aliyun-iot-shadow', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    type Doc = { state: { reported?: Record<string, unknown>; desired?: Record<string, unknown> } };
    const doc = async () => (await https(emu, 'GET', path)).body as unknown as Doc;
    // Polled through the cloud API until the deadline: reported as applied, desired cleared.
    const deadline = Date.now() + 10_000;
    let applied = await doc();
    while (!(applied.state.reported?.LightSwitch === 1 && Object.keys(applied.state.desired ?? {}).length === 0)) {
      assert.ok(Date.now() < deadline, `not applied in time: ${JSON.stringify(applied.state)}`);
      await new Promise((r) => setTimeout(r, 50));
      applied = await doc();
    }
  });

  it('gateway-register: demo-sub-register gets its secret through the gateway and posts', async () => {
    const { flow, credentials } = loadExample('gateway-register', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const sub = () => emu.registry.device('a1DemoPk', 'demo-sub-register')!;
    const states = collect('ex-gwreg-debug');
    await eventually(() => states.some((m) => m.topic === 'connected'), 10_000, 'registered and online');
    assert.equal(sub().counters.registrations, 1);
    assert.equal(sub().via, `${DEMO_GATEWAY.productKey}&${DEMO_GATEWAY.deviceName}`);
    await eventually(() => sub().properties.Power === 42, 8000, 'Power posted');
  });
});
