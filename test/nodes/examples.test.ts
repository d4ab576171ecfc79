// Every flow in examples/ runs against the emulator and does what its comment says.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import {
  DEMO_ACCOUNT,
  DEMO_CONSUMER_GROUP,
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
import { collect, flowSubscriptions, helper, logged, NODES, nodeRedSuite } from '../helpers/flows';
import { enableMessageHooks, prototypeSpyCalls } from '../helpers/red-internals';

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
  // The amqp-in node acknowledges a message when the flow has finished with it: Node-RED's message hooks.
  enableMessageHooks();
  const suite = nodeRedSuite({
    devices: [DEMO_DEVICE, ...DEMO_UNREGISTERED, DEMO_GATEWAY, ...DEMO_SUB_DEVICES],
    // The demo product with its thing model: the emulator checks the examples' data as the platform would.
    products: [{ ...DEMO_PRODUCT, tsl: DEMO_TSL }, DEMO_GATEWAY_PRODUCT],
    // The cloud side as `--demo` has it: the cloud-* examples' AccessKey and consumer group.
    accounts: [DEMO_ACCOUNT],
    consumerGroups: [DEMO_CONSUMER_GROUP],
  });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });
  const demo = () => emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)!;
  /** The demo device in the cloud API, as the examples' comments reach it with curl. */
  const demoApi = `/api/devices/${DEMO_DEVICE.productKey}/${DEMO_DEVICE.deviceName}`;

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

  it('ota: the job the comment starts is downloaded, verified, applied and reported; the job succeeds', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-ota', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const out = collect('ex-ota-debug');
    const statuses = collect('ex-ota-progress');
    type Device = { firmware?: Record<string, string> };
    const firmwareOf = async () => ((await https(emu, 'GET', demoApi)).body as Device).firmware ?? {};
    await eventually(async () => (await firmwareOf()).default === '1.0.0', 10_000, '1.0.0 reported at connect');
    // The curl of the comment.
    const firmware = 'ZGVtbyBmaXJtd2FyZSAxLjEuMA==';
    const started = await https(emu, 'POST', `${demoApi}/ota`, { version: '1.1.0', firmware });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    type Job = { status: string; steps: number[]; reportedVersion?: string };
    const job = async () => (await https(emu, 'GET', `${demoApi}/ota`)).body as unknown as Job;
    await eventually(async () => (await job()).status === 'succeeded', 15_000, 'the job succeeded');
    assert.equal((await job()).reportedVersion, '1.1.0');
    assert.equal((await firmwareOf()).default, '1.1.0');
    // Only the verified firmware came out, as a Buffer; the function's report was answered.
    const upgrades = out.filter((m) => m.topic === 'upgrade');
    assert.equal(upgrades.length, 1);
    const offer = upgrades[0]!.payload as { version: string; firmware: Buffer };
    assert.equal(offer.version, '1.1.0');
    assert.deepEqual(Buffer.from(offer.firmware), Buffer.from(firmware, 'base64'));
    await eventually(() => out.some((m) => m.topic === 'reported'), 5000, 'the report answered');
    assert.deepEqual(out.find((m) => m.topic === 'reported')!.payload, { version: '1.1.0', module: 'default' });
    // The download shows on the progress debug (the status node), and went to the cloud up to 100.
    const texts = statuses.map((m) => String((m as { status?: { text?: string } }).status?.text));
    assert.ok(
      texts.some((t) => /1\.1\.0/.test(t)),
      texts.join(' | '),
    );
    assert.equal((await job()).steps.at(-1), 100);
  });

  it('config: the configuration the comment publishes is pushed, verified and output', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-config', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-rcfg-debug');
    const push = `/sys/${DEMO_DEVICE.productKey}/${DEMO_DEVICE.deviceName}/thing/config/push`;
    await eventually(() => demo().online && demo().subscriptions.has(push), 8000, 'subscribed to pushes');
    const content = { reportInterval: 60, unit: 'C' };
    const posted = await https(emu, 'POST', `/api/products/${DEMO_DEVICE.productKey}/config`, { content });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    assert.deepEqual(posted.body.pushedTo, [DEMO_DEVICE.deviceName]);
    type Out = { topic?: string; payload: unknown; config?: { configId: string; source: string } };
    const pushed = () => (got as Out[]).find((m) => m.config?.source === 'push');
    await eventually(() => pushed() !== undefined, 8000, 'the pushed configuration');
    assert.equal(pushed()!.topic, 'config');
    assert.deepEqual(pushed()!.payload, content);
    assert.equal(pushed()!.config!.configId, posted.body.configId);
    // "get" reads it on demand.
    helper.getNode('ex-rcfg-get')!.receive({});
    await eventually(() => (got as Out[]).some((m) => m.config?.source === 'get'), 8000, 'the configuration read');
    assert.deepEqual((got as Out[]).find((m) => m.config?.source === 'get')!.payload, content);
  });

  it('tags: "update tags" shows in the cloud, "delete floor" removes one tag', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-tags', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-tags-debug');
    const tagsOf = async () =>
      ((await https(emu, 'GET', demoApi)).body as { tags?: Record<string, string> }).tags ?? {};
    await eventually(() => demo().online && flowSubscriptions(demo()) >= 1, 8000, 'online, replies subscribed');
    helper.getNode('ex-tags-update')!.receive({});
    await eventually(() => got.some((m) => m.topic === 'tags-updated'), 8000, 'tags-updated');
    assert.deepEqual(await tagsOf(), { room: 'kitchen', floor: '2' });
    helper.getNode('ex-tags-delete')!.receive({});
    await eventually(() => got.some((m) => m.topic === 'tags-deleted'), 8000, 'tags-deleted');
    assert.deepEqual(await tagsOf(), { room: 'kitchen' });
    assert.deepEqual(
      got.map((m) => m.topic),
      ['tags-updated', 'tags-deleted'],
    );
  });

  it('raw: raw bytes are answered on down_raw_reply and RRPC on user/get on its own topic', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-raw', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-raw-debug');
    const { productKey: pk, deviceName: dn } = DEMO_DEVICE;
    const filters = [`/sys/${pk}/${dn}/thing/model/down_raw`, `/ext/rrpc/+/${pk}/${dn}/user/get`];
    await eventually(() => filters.every((f) => demo().subscriptions.has(f)), 8000, 'subscribed');
    // The config node logged in with ext=1 by itself: the command node names a topic.
    assert.equal(demo().extRrpc, true);
    const raw = await https(emu, 'POST', `${demoApi}/raw`, { payloadBase64: 'AQID', timeoutMs: 3000 });
    assert.deepEqual(raw.body, {
      code: 'SUCCESS',
      replyTopic: `/sys/${pk}/${dn}/thing/model/down_raw_reply`,
      replyBase64: 'gQID',
    });
    const rrpc = await https(emu, 'POST', `${demoApi}/rrpc`, {
      topic: `/${pk}/${dn}/user/get`,
      payload: 'light?',
      timeoutMs: 3000,
    });
    assert.equal(rrpc.body.code, 'SUCCESS', JSON.stringify(rrpc.body));
    assert.deepEqual(JSON.parse(rrpc.body.reply as string), { light: 'on', asked: 'light?' });
    assert.deepEqual(
      got.map((m) => m.topic),
      ['raw', `/${pk}/${dn}/user/get`],
    );
    assert.ok(Buffer.isBuffer(got[0]!.payload));
    assert.deepEqual(logged('ex-raw-command', 'error'), []);
    assert.deepEqual(logged('ex-raw-command', 'warn'), []);
  });
  // The cloud side: the account node of the cloud-* examples holds the emulator's demo AccessKey;
  // the device side comes from a device example loaded beside it, as their comments say. (The helper
  // loads the catch, complete and status nodes by itself, once per such node in the flow: a flow
  // may hold one catch node only.)
  const GROUP = DEMO_CONSUMER_GROUP.id;
  type Delivered = { topic?: string; payload: unknown; messageId?: string; generateTime?: number };

  /** Several examples deployed together, as a user imports one after another. */
  async function loadExamples(...names: string[]): Promise<void> {
    const loaded = names.map((name) => loadExample(name, emu));
    await helper.load(
      [...NODES, ...core],
      loaded.flatMap((l) => l.flow),
      Object.assign({}, ...loaded.map((l) => l.credentials)) as Record<string, Record<string, string>>,
    );
  }

  it("cloud-amqp-debug: a device's reading and its online status reach the debug node, acknowledged", async () => {
    const since = Date.now();
    const accepted = emu.amqp.counters(GROUP).accepted;
    await loadExamples('cloud-amqp-debug', 'aliyun-iot-publish');
    const data = collect('ex-amqp-debug') as Delivered[];
    const states = collect('ex-amqp-status');
    // What the group kept for it from earlier tests arrives too: this test's messages are the new ones.
    const fresh = () => data.filter((m) => (m.generateTime ?? 0) >= since);
    const reading = () => fresh().find((m) => m.topic === '/a1DemoPk/demo-device/user/update');
    await eventually(() => reading() !== undefined, 10_000, 'the reading through AMQP');
    assert.deepEqual(reading()!.payload, { temperature: 21.5, humidity: 40 });
    assert.match(String(reading()!.messageId), /^\d+$/);
    // The previous test's device going offline may come first.
    const statuses = () =>
      fresh()
        .filter((m) => m.topic === '/as/mqtt/status/a1DemoPk/demo-device')
        .map((m) => (m.payload as { status?: string }).status);
    await eventually(
      () => statuses().includes('online'),
      5000,
      () => `online: ${statuses().join()}`,
    );
    assert.ok(states.some((m) => (m.payload as { open: number }).open === 1));
    // Each message was acknowledged once the debug node had finished with it.
    await eventually(
      () => emu.amqp.counters(GROUP).accepted - accepted >= data.length && emu.amqp.counters(GROUP).queued === 0,
      5000,
      () => `acknowledged: ${JSON.stringify(emu.amqp.counters(GROUP))} for ${data.length} out`,
    );
    assert.deepEqual(logged('ex-amqp-in', 'error'), []);
  });

  it('cloud-lightswitch-off: "all off" sets LightSwitch 0 at the online device; the offline one is caught', async () => {
    // The device side: the command example without its catch node (one catch node per flow, above).
    const { flow, credentials } = loadExample('cloud-lightswitch-off', emu);
    const device = loadExample('aliyun-iot-command', emu);
    await helper.load([...NODES, ...core], [...flow, ...device.flow.filter((n) => n.type !== 'catch')], {
      ...credentials,
      ...device.credentials,
    });
    const commands = collect('ex-cmd-debug');
    const answers = collect('ex-lsoff-answers') as (Delivered & { requestId?: string })[];
    const refused = collect('ex-lsoff-refused') as (Delivered & { requestId?: string; error?: { code?: string } })[];
    await eventually(() => demo().online && flowSubscriptions(demo()) >= 3, 8000, 'the device flow subscribed');
    helper.getNode('ex-lsoff-inject')!.receive({});
    await eventually(() => answers.length === 1 && refused.length === 1, 8000, 'both calls answered');
    // demo-device took the call and its command flow answered it with the values it got.
    assert.equal(answers[0]!.topic, 'demo-device');
    assert.match(String((answers[0]!.payload as { Data: { MessageId: unknown } }).Data.MessageId), /^\d+$/);
    assert.equal(answers[0]!.requestId, (answers[0]!.payload as { RequestId: string }).RequestId);
    await eventually(() => commands.some((m) => m.topic === 'property/set'), 5000, 'property/set at the device');
    assert.deepEqual(commands.find((m) => m.topic === 'property/set')!.payload, { LightSwitch: 0 });
    const setReply = `/sys/${DEMO_DEVICE.productKey}/${DEMO_DEVICE.deviceName}/thing/service/property/set_reply`;
    await eventually(
      () =>
        demo().uplink.some(
          (m) => m.topic === setReply && (JSON.parse(m.payload) as { data?: unknown }).data !== undefined,
        ),
      5000,
      'the device replied',
    );
    const reply = demo()
      .uplink.filter((m) => m.topic === setReply)
      .at(-1)!;
    assert.deepEqual((JSON.parse(reply.payload) as { code: number; data: unknown }).data, { LightSwitch: 0 });
    // demo-child-1 has never connected: refused by the platform, with its Code and RequestId.
    assert.equal(refused[0]!.topic, 'demo-child-1');
    assert.equal(refused[0]!.error?.code, 'iot.messagebroker.OFFLINE');
    assert.ok(refused[0]!.requestId);
  });

  it('cloud-shared-group: the flow on two instances shares the group, each message to one of them', async () => {
    // The second instance: the same flow under other node IDs, as Node-RED keeps one ID per runtime.
    // Its blank client ID then differs by the node ID, where a second machine's differs by its host name.
    const first = loadExample('cloud-shared-group', emu);
    const second = loadExample('cloud-shared-group', emu);
    const renamed = (value: unknown): unknown =>
      JSON.parse(JSON.stringify(value).replace(/"ex-share-/g, '"ex2-share-')) as unknown;
    const device = loadExample('aliyun-iot-publish', emu);
    await helper.load([...NODES, ...core], [...first.flow, ...(renamed(second.flow) as FlowNode[]), ...device.flow], {
      ...first.credentials,
      ...(renamed(second.credentials) as Record<string, Record<string, string>>),
      ...device.credentials,
    });
    const one = collect('ex-share-debug') as Delivered[];
    const two = collect('ex2-share-debug') as Delivered[];
    const host =
      hostname()
        .replace(/[^A-Za-z0-9_.-]/g, '')
        .slice(0, 30) || 'node-red';
    await eventually(() => emu.amqp.connections(GROUP).length === 2, 10_000, 'both instances logged in');
    assert.deepEqual(emu.amqp.connections(GROUP).sort(), [`${host}-ex-share-in`, `${host}-ex2-share-in`].sort());
    await eventually(() => demo().online, 8000, 'the device online');
    const run = `shared-${Date.now()}`;
    for (let n = 0; n < 20; n++) helper.getNode('ex-pub-node')!.receive({ payload: { run, n } });
    const mine = (got: Delivered[]) =>
      got.filter((m) => (m.payload as { run?: string } | null)?.run === run).map((m) => (m.payload as { n: number }).n);
    await eventually(
      () => mine(one).length + mine(two).length >= 20,
      10_000,
      () => `all twenty received: ${mine(one).length} + ${mine(two).length}`,
    );
    const all = [...mine(one), ...mine(two)].sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 20 }, (_, n) => n),
      'each message to exactly one instance',
    );
    assert.ok(mine(one).length > 0 && mine(two).length > 0, `shares ${mine(one).length} and ${mine(two).length}`);
    // Each instance's count node shows what reached it.
    const lastStatus = (id: string) =>
      prototypeSpyCalls('status')
        .filter((c) => (c.thisValue as { id?: string }).id === id)
        .map((c) => (c.args[0] as { text?: string }).text)
        .at(-1);
    await eventually(
      () => lastStatus('ex-share-count') === `${one.length} received here`,
      5000,
      () => `first count: ${lastStatus('ex-share-count')} for ${one.length}`,
    );
    await eventually(
      () => lastStatus('ex2-share-count') === `${two.length} received here`,
      5000,
      () => `second count: ${lastStatus('ex2-share-count')} for ${two.length}`,
    );
  });
});
