// The amqp-in node against the emulator's AMQP server-side subscription: what devices do arrives
// as messages; a delivery is settled when the flow has finished with it, not on receipt; the
// credit window holds back the stream while the flow is busy; duplicates are dropped; a lost
// connection comes back; two nodes in one group share the stream.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import type { Emulator } from '../../emulator/index';
import { eventually } from '../helpers/emulator';
import {
  collect,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  logged,
  NODES,
  nodeRedSuite,
} from '../helpers/flows';
import { enableMessageHooks } from '../helpers/red-internals';

const account = { accessKeyId: 'LTAI5tAmqpTest', accessKeySecret: 'amqp-access-key-secret' };
const device = { productKey: 'pkAmqp', deviceName: 'amqp-dev', deviceSecret: 'amqp-device-secret' };
/**
 * A consumer group per test, subscribed to a product of its own: what one test publishes or leaves
 * unsettled never reaches another's group.
 */
const GROUPS = ['G_SETTLE', 'G_DEVICE', 'G_DUP', 'G_LOST', 'G_SHARE', 'G_AUTH'];
const productOf = (group: string) => (group === 'G_DEVICE' ? device.productKey : `pk${group}`);
let GROUP = GROUPS[0]!;

/** A node that holds every message until the test completes it: a flow that is still busy. */
const held: { msg: NodeMessage; done: () => void }[] = [];
function holdNode(RED: NodeAPI): void {
  RED.nodes.registerType('hold', function (this: Node, def: never) {
    RED.nodes.createNode(this, def);
    this.on('input', (msg, _send, done) => held.push({ msg, done: () => done() }));
  });
}

let sequence = 0;
function dataFlow(emu: Emulator, payload: unknown, messageId = `m-${++sequence}`) {
  const productKey = productOf(GROUP);
  emu.amqp.publish({
    topic: `/${productKey}/${device.deviceName}/user/update`,
    payload: Buffer.from(JSON.stringify(payload)),
    messageId,
    generateTime: Date.now(),
    productKey,
    deviceName: device.deviceName,
  });
}

describe('amqp-in node', () => {
  enableMessageHooks();
  const emulator = nodeRedSuite({
    devices: [device],
    accounts: [account],
    consumerGroups: GROUPS.map((id) => ({ id, productKeys: [productOf(id)] })),
    rateLimit: 0,
  });

  function accountNode(emu: Emulator) {
    return {
      id: 'acct',
      type: 'aliyun-iot-account',
      apiUrl: `https://${emu.host}:${emu.ports.https}/`,
      amqpHost: emu.host,
      amqpPort: String(emu.ports.amqp),
      ca: emu.ca,
    };
  }

  async function load(nodes: Record<string, unknown>[], secret = account.accessKeySecret) {
    const emu = emulator();
    held.length = 0;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fn = require('@node-red/nodes/core/function/10-function.js') as unknown;
    await helper.load([...NODES, fn, holdNode], [accountNode(emu), ...nodes], {
      acct: { accessKeyId: account.accessKeyId, accessKeySecret: secret },
      ...credentialsFor(device),
    });
    return emu;
  }

  const amqpIn = (extra: Record<string, unknown>) => ({
    id: 'in',
    type: 'aliyun-iot-amqp-in',
    account: 'acct',
    consumerGroupId: GROUP,
    clientId: 'nr-test',
    wires: [['busy'], ['states']],
    ...extra,
  });

  it('settles a delivery when the flow completes it, and the credit window holds back the rest', async () => {
    GROUP = 'G_SETTLE';
    const emu = await load([
      amqpIn({ creditWindow: '2' }),
      { id: 'busy', type: 'hold', wires: [] },
      { id: 'states', type: 'helper' },
    ]);
    await eventually(() => emu.amqp.connections(GROUP).length === 1, 10_000, 'attached');
    const before = emu.amqp.counters(GROUP);
    for (let i = 0; i < 5; i++) dataFlow(emu, { n: i });
    await eventually(() => held.length === 2, 5000, 'two delivered');
    // The flow is busy with both: nothing settled, the other three wait at the platform.
    assert.equal(emu.amqp.counters(GROUP).accepted, before.accepted);
    assert.equal(emu.amqp.counters(GROUP).queued, 3);
    held[0]!.done();
    await eventually(() => emu.amqp.counters(GROUP).accepted === before.accepted + 1, 5000, 'one settled');
    await eventually(() => held.length === 3, 5000, 'a third let in');
    for (const h of held.slice(1)) h.done();
    await eventually(() => held.length === 5, 5000, 'all five delivered');
    for (const h of held.slice(3)) h.done();
    await eventually(() => emu.amqp.counters(GROUP).accepted === before.accepted + 5, 5000, 'all settled');
    assert.deepEqual(
      held.map((h) => (h.msg.payload as { n: number }).n),
      [0, 1, 2, 3, 4],
    );
    const first = held[0]!.msg as NodeMessage & Record<string, unknown>;
    assert.equal(first.topic, `/pkG_SETTLE/${device.deviceName}/user/update`);
    assert.equal(first.productKey, 'pkG_SETTLE');
    assert.equal(first.deviceName, device.deviceName);
    assert.match(String(first.messageId), /^m-/);
    assert.equal(typeof first.generateTime, 'number');
  });

  it("a device flow's messages and status arrive; JSON parsed, other bytes as a Buffer", async () => {
    GROUP = 'G_DEVICE';
    const emu = await load([
      amqpIn({ wires: [['done'], ['states']] }),
      // A flow that finishes at once: a function node completing every message.
      { id: 'done', type: 'function', func: 'return msg;', wires: [['seen']] },
      { id: 'seen', type: 'helper' },
      { id: 'states', type: 'helper' },
      deviceConfig(emulator(), device, { rateLimit: '0', autoConnect: false }),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' },
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/update', qos: '1' },
    ]);
    const seen = collect('seen');
    await eventually(() => emu.amqp.connections(GROUP).length === 1, 10_000, 'attached');
    await inject('conn', { action: 'connect' });
    await connected(emu, device);
    await inject('pub', { payload: { temperature: 21.5 } });
    await inject('pub', { payload: Buffer.from([0xff, 0x00, 0xfe]) });
    await eventually(() => seen.filter((m) => m.topic!.endsWith('/user/update')).length === 2, 8000, 'both posts');
    const posts = seen.filter((m) => m.topic!.endsWith('/user/update'));
    assert.deepEqual(posts[0]!.payload, { temperature: 21.5 });
    assert.deepEqual(posts[1]!.payload, Buffer.from([0xff, 0x00, 0xfe]));
    const online = seen.find((m) => m.topic === `/as/mqtt/status/${device.productKey}/${device.deviceName}`);
    assert.equal((online?.payload as { status?: string } | undefined)?.status, 'online');
    await eventually(() => emu.amqp.counters(GROUP).queued === 0, 5000, 'nothing left waiting');
  });

  it('drops a message pushed again (same messageId) and settles both', async () => {
    GROUP = 'G_DUP';
    const emu = await load([
      amqpIn({ wires: [['done'], ['states']] }),
      { id: 'done', type: 'function', func: 'return msg;', wires: [['seen']] },
      { id: 'seen', type: 'helper' },
      { id: 'states', type: 'helper' },
    ]);
    const seen = collect('seen');
    await eventually(() => emu.amqp.connections(GROUP).length === 1, 10_000, 'attached');
    const before = emu.amqp.counters(GROUP).accepted;
    dataFlow(emu, { once: true }, 'dup-1');
    dataFlow(emu, { once: true }, 'dup-1');
    dataFlow(emu, { after: true }, 'dup-2');
    await eventually(
      () => emu.amqp.counters(GROUP).accepted === before + 3,
      5000,
      () => `all three settled: ${JSON.stringify(emu.amqp.counters(GROUP))} from ${before}, out ${seen.length}`,
    );
    await eventually(() => seen.length === 2, 5000, 'two out');
    assert.deepEqual(
      seen.map((m) => (m as NodeMessage & { messageId?: string }).messageId),
      ['dup-1', 'dup-2'],
    );
  });

  it('a lost connection comes back; what was unsettled is pushed again and not output twice', async () => {
    GROUP = 'G_LOST';
    const emu = await load([
      amqpIn({ creditWindow: '10' }),
      { id: 'busy', type: 'hold', wires: [] },
      { id: 'states', type: 'helper' },
    ]);
    const states = collect('states');
    await eventually(() => emu.amqp.connections(GROUP).length === 1, 10_000, 'attached');
    dataFlow(emu, { n: 'a' });
    await eventually(() => held.length === 1, 5000, 'delivered');
    assert.equal(emu.amqp.kick('nr-test'), 1);
    await eventually(
      () => states.some((m) => (m.payload as { open: number }).open === 0),
      5000,
      'the status output shows it lost',
    );
    await eventually(() => emu.amqp.connections(GROUP).length === 1, 15_000, 'back');
    // The platform pushed the unsettled message again to the new connection: recognised, settled.
    const redelivered = emu.amqp.counters(GROUP).redelivered;
    assert.ok(redelivered >= 1, `redelivered ${redelivered}`);
    dataFlow(emu, { n: 'b' });
    await eventually(() => held.length === 2, 5000, 'the next one arrives');
    assert.deepEqual(
      held.map((h) => (h.msg.payload as { n: string }).n),
      ['a', 'b'],
    );
    for (const h of held) h.done();
    const last = states.at(-1)!.payload as {
      open: number;
      creditWindow: number;
      counters: { reconnects: number; duplicates: number };
    };
    assert.equal(last.open, 1);
    assert.equal(last.creditWindow, 10);
    assert.ok(last.counters.reconnects >= 1);
  });

  it('two nodes in one consumer group share the stream: each message to exactly one', async () => {
    GROUP = 'G_SHARE';
    // A helper node takes no done(): its copy counts as finished on arrival (completion.ts).
    const emu = await load([
      // A credit of one each: the platform's round-robin cannot hand everything to the first to attach.
      amqpIn({ id: 'in1', clientId: 'instance-1', creditWindow: '1', wires: [['s1'], []] }),
      amqpIn({ id: 'in2', clientId: 'instance-2', creditWindow: '1', wires: [['s2'], []] }),
      { id: 's1', type: 'helper' },
      { id: 's2', type: 'helper' },
    ]);
    const one = collect('s1');
    const two = collect('s2');
    await eventually(() => emu.amqp.connections(GROUP).length === 2, 10_000, 'both attached');
    for (let i = 0; i < 40; i++) dataFlow(emu, { n: i });
    await eventually(
      () => one.length + two.length === 40,
      10_000,
      () => `all forty out: ${one.length} + ${two.length}, ${JSON.stringify(emu.amqp.counters(GROUP))}`,
    );
    const ids = [...one, ...two].map((m) => (m as NodeMessage & { messageId?: string }).messageId);
    assert.equal(new Set(ids).size, 40, 'none twice');
    assert.ok(one.length > 0 && two.length > 0, `shares ${one.length} and ${two.length}`);
    await eventually(() => emu.amqp.counters(GROUP).queued === 0, 5000, 'nothing left waiting');
  });

  it('a refused login: auth-failed shown and logged without the secret; bad settings refused', async () => {
    GROUP = 'G_AUTH';
    const emu = await load(
      [amqpIn({}), { id: 'busy', type: 'hold', wires: [] }, { id: 'states', type: 'helper' }],
      'wrong-amqp-access-key-secret',
    );
    const states = collect('states');
    await eventually(
      () =>
        states.some((m) => (m.payload as { connections: { state: string }[] }).connections[0]!.state === 'auth-failed'),
      10_000,
      () => `auth-failed: ${JSON.stringify(states.map((m) => m.payload))}`,
    );
    assert.equal(emu.amqp.connections(GROUP).length, 0);
    assert.match(logged('in', 'error').join('\n'), /refused the login/);
  });
});
