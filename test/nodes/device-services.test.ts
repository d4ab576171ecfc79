// The device services beyond properties and commands, node by node against the emulator (no mocks):
// - remote configuration (aliyun-iot-config): read after the connect and on input, the cloud's push
//   output and answered, a file whose SHA-256 does not match refused and never output;
// - tags (aliyun-iot-tags): update and delete stored by the platform, each message completed once by
//   the reply of its own id, invalid tags refused before sending;
// - raw data (command node `raw: true`, reply node): down_raw bytes out as a Buffer, answered on
//   up_raw or down_raw_reply;
// - custom-topic RRPC (command node `rrpcTopic`): the device logs in with ext=1 then (and only then),
//   the call goes out on /ext/rrpc/{messageId}/{topic} and the flow's answer comes back;
// - lifecycle: disable and delete from the cloud stop the connection (no reconnects); enable alone
//   cannot reach the offline device, the connect node's `connect` brings it back.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { DeviceChannel } from '../../nodes/lib/connection';
import { eventually, https } from '../helpers/emulator';
import {
  collect,
  completions,
  connected,
  credentialsFor,
  deviceConfig,
  flowSubscriptions,
  helper,
  inject,
  NODES,
  nodeRedSuite,
  type TestDevice,
} from '../helpers/flows';
import { prototypeSpyCalls } from '../helpers/red-internals';

const dev = (productKey: string, deviceName: string): TestDevice => ({
  productKey,
  deviceName,
  deviceSecret: `${deviceName}-secret`,
});

/** One device per test (one product per configuration test): what one test leaves behind cannot answer another. */
const D = {
  cfgGet: dev('pkCfgGet', 'cfg-get'),
  cfgPush: dev('pkCfgPush', 'cfg-push'),
  cfgBad: dev('pkCfgBad', 'cfg-bad'),
  tags: dev('pkTags', 'tags-crud'),
  tagsIds: dev('pkTags', 'tags-ids'),
  tagsBad: dev('pkTags', 'tags-bad'),
  raw: dev('pkRaw', 'raw-dev'),
  rrpcExt: dev('pkRrpc', 'rrpc-ext'),
  rrpcPlain: dev('pkRrpc', 'rrpc-plain'),
  disable: dev('pkLife', 'life-disable'),
  doomed: dev('pkLife', 'life-delete'),
};

const api = (d: TestDevice) => `/api/devices/${d.productKey}/${d.deviceName}`;
const sys = (d: TestDevice) => `/sys/${d.productKey}/${d.deviceName}`;

/** What one node logged with node.warn or node.error: the helper's spies are shared by every node. */
const loggedBy = (id: string, kind: 'warn' | 'error') =>
  prototypeSpyCalls(kind)
    .filter((c) => (c.thisValue as { id?: string }).id === id)
    .map((c) => String(c.args[0]));

type Aliyun = NodeMessage & { aliyun: Record<string, unknown> };
type Coded = Error & { code?: string | number; packageCode?: string };

describe('device services', () => {
  const emulator = nodeRedSuite({ devices: Object.values(D), rateLimit: 0 });
  const record = (d: TestDevice) => {
    const found = emulator().registry.device(d.productKey, d.deviceName);
    assert.ok(found, `${d.deviceName} is registered`);
    return found;
  };

  /**
   * The device's config node (id `dev`) and `nodes`, loaded; resolves once the device is online with
   * what the helper node `out` received from the start (when the flow has one).
   */
  async function load(d: TestDevice, nodes: Record<string, unknown>[], deviceExtra: Record<string, unknown> = {}) {
    await helper.load(NODES, [deviceConfig(emulator(), d, deviceExtra), ...nodes], credentialsFor(d));
    // Collected before the login: what the nodes output right after the connect is not missed.
    const out = helper.getNode('out') ? collect('out') : [];
    await connected(emulator(), d);
    return out;
  }

  describe('remote configuration (aliyun-iot-config)', () => {
    const PATH = (d: TestDevice) => `/api/products/${d.productKey}/config`;
    const setConfig = (d: TestDevice, content: unknown) => https(emulator(), 'POST', PATH(d), { content });
    const configFlow = [
      { id: 'cfg', type: 'aliyun-iot-config', device: 'dev', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    // TLS: the file comes from the emulator's HTTPS file server, trusted through the device's CA.
    const loadConfig = (d: TestDevice) => load(d, configFlow, { transport: 'tls' });
    type ConfigMsg = NodeMessage & { config: { configId: string; configSize: number; sign: string; source: string } };

    it('after the connect, outputs the configuration downloaded and SHA-256 checked; input reads it again', async () => {
      const content = { interval: 30, mode: 'eco', 名称: '泵' };
      const stored = await setConfig(D.cfgGet, content);
      assert.equal(stored.status, 200);
      assert.deepEqual(stored.body.pushedTo, [], 'the device was offline: nothing pushed');
      const text = JSON.stringify(content);
      assert.equal(stored.body.sign, createHash('sha256').update(text).digest('hex'));
      const filesBefore = emulator().files.requests.length;

      const out = await loadConfig(D.cfgGet);
      await eventually(() => out.length === 1, 10_000, 'the configuration after the connect');
      const first = out[0] as ConfigMsg;
      assert.equal(first.topic, 'config');
      assert.deepEqual(first.payload, content);
      assert.deepEqual(first.config, {
        configId: stored.body.configId,
        configSize: Buffer.byteLength(text),
        sign: stored.body.sign,
        source: 'get',
      });
      const downloads = emulator().files.requests.slice(filesBefore);
      assert.ok(
        downloads.some(
          (r) => r.method === 'GET' && r.status === 200 && r.path.endsWith(`${String(stored.body.configId)}.json`),
        ),
        'downloaded from the file server',
      );

      assert.equal(await inject('cfg', { topic: 'again' }), undefined);
      await eventually(() => out.length === 2, 5000, 'the answer to the input');
      assert.equal((out[1] as ConfigMsg).config.source, 'get');
      assert.deepEqual(out[1]!.payload, content);
      assert.equal((await inject('cfg', { action: 'set' }))?.code, 'CONFIG_ACTION_INVALID');
      assert.equal(completions('cfg').length, 2);
    });

    it('a configuration posted while online is pushed, output once and answered 200', async () => {
      const gets = () => record(D.cfgPush).uplink.filter((m) => m.topic === `${sys(D.cfgPush)}/thing/config/get`);
      const out = await loadConfig(D.cfgPush);
      // The product has no configuration yet: the read after the connect outputs nothing, input says null.
      await eventually(() => gets().length >= 1, 10_000, 'config/get after the connect');
      await eventually(
        () => record(D.cfgPush).subscriptions.has(`${sys(D.cfgPush)}/thing/config/push`),
        5000,
        'subscribed to the push',
      );
      assert.equal(await inject('cfg', {}), undefined);
      await eventually(() => out.length === 1, 5000, 'the answer to the input');
      assert.deepEqual([out[0]!.topic, out[0]!.payload], ['config', null]);

      const stored = await setConfig(D.cfgPush, { level: 2 });
      assert.deepEqual(stored.body.pushedTo, [D.cfgPush.deviceName]);
      await eventually(() => out.length === 2, 10_000, 'the pushed configuration');
      const pushed = out[1] as ConfigMsg;
      assert.deepEqual(pushed.payload, { level: 2 });
      assert.equal(pushed.config.source, 'push');
      assert.equal(pushed.config.configId, stored.body.configId);

      const described = async () =>
        (await https(emulator(), 'GET', PATH(D.cfgPush))).body as unknown as {
          pushes: { deviceName: string; id: string }[];
          replies: { deviceName: string; id: unknown; code: unknown }[];
        };
      await eventually(async () => (await described()).replies.length === 1, 5000, 'the push answered');
      const { pushes, replies } = await described();
      assert.equal(pushes.length, 1);
      assert.deepEqual(
        [replies[0]!.deviceName, replies[0]!.id, replies[0]!.code],
        [D.cfgPush.deviceName, pushes[0]!.id, 200],
      );
      assert.deepEqual(loggedBy('cfg', 'error'), []);
      // A read on input outputs the configuration again.
      assert.equal(await inject('cfg', {}), undefined);
      await eventually(() => out.length === 3, 5000, 'the answer to the input');
      assert.equal((out[2] as ConfigMsg).config.configId, stored.body.configId);
    });

    it('a file whose SHA-256 does not match is refused with an error, answered 500 and never output', async () => {
      const emu = emulator();
      await setConfig(D.cfgBad, { good: true });
      const out = await loadConfig(D.cfgBad);
      await eventually(() => out.length === 1, 10_000, 'the good configuration after the connect');
      const config = emu.remoteConfig.configs.current(D.cfgBad.productKey);
      assert.ok(config);
      const errors = () => loggedBy('cfg', 'error');

      // A push naming the real file with the digest of other bytes: downloaded, refused, answered 500.
      const wrongSign = createHash('sha256').update('something else').digest('hex');
      const push = (id: string, params: Record<string, unknown>) =>
        emu.platform.publishDown(
          `${sys(D.cfgBad)}/thing/config/push`,
          JSON.stringify({ id, version: '1.0', method: 'thing.config.push', params }),
          1,
        );
      await push('9001', { ...emu.remoteConfig.describe(config), configId: 'tampered', sign: wrongSign });
      const replies = () => emu.remoteConfig.configs.replies(D.cfgBad.productKey);
      await eventually(() => replies().some((r) => r.id === '9001'), 10_000, 'the refused push answered');
      assert.equal(replies().find((r) => r.id === '9001')!.code, 500);
      await eventually(() => errors().length === 1, 5000, 'the error');
      assert.match(errors()[0]!, /configuration file failed verification/);
      // A push without a usable description is answered 460 at once.
      await push('9002', { configId: 'x', configSize: 3, sign: 'not-a-digest', url: 'https://x/y' });
      await eventually(() => replies().some((r) => r.id === '9002'), 5000, 'the malformed push answered');
      assert.equal(replies().find((r) => r.id === '9002')!.code, 460);
      await eventually(() => errors().length === 2, 5000, 'its error');
      assert.match(errors()[1]!, /sign is not a/);

      // The platform's own description goes bad: a read on input fails with the verification error.
      config.sign = wrongSign;
      const err = await inject('cfg', {});
      assert.equal((err as Coded | undefined)?.code, 'CONFIG_VERIFY_FAILED');
      assert.equal(out.length, 1, 'nothing but the good configuration was ever output');
    });
  });

  describe('tags (aliyun-iot-tags)', () => {
    const tagsFlow = [
      { id: 'tags', type: 'aliyun-iot-tags', device: 'dev', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    const tagsOf = async (d: TestDevice) =>
      (await https(emulator(), 'GET', api(d))).body.tags as Record<string, string>;
    const tagMessages = (d: TestDevice) => record(d).uplink.filter((m) => m.topic.includes('/thing/deviceinfo/'));

    it('updates and deletes tags the platform stores; each message completes once when answered', async () => {
      const out = await load(D.tags, tagsFlow);
      assert.equal(
        await inject('tags', { payload: { room: 'hall', floor: 3, lit: true, label: '客厅灯' } }),
        undefined,
      );
      assert.deepEqual(await tagsOf(D.tags), { room: 'hall', floor: '3', lit: 'true', label: '客厅灯' });
      // An upsert: the list form changes one tag and leaves the others.
      const list = [{ attrKey: 'room', attrValue: 'kitchen' }];
      assert.equal(await inject('tags', { action: 'update', payload: list }), undefined);
      assert.equal((await tagsOf(D.tags)).room, 'kitchen');
      assert.equal(await inject('tags', { action: 'delete', payload: 'lit' }), undefined);
      assert.equal(await inject('tags', { action: 'delete', payload: ['floor', 'gone-already'] }), undefined);
      assert.equal(await inject('tags', { action: 'delete', payload: { label: null } }), undefined);
      assert.deepEqual(await tagsOf(D.tags), { room: 'kitchen' });
      await eventually(() => out.length === 5, 5000, 'every message out');
      // What was sent, as the platform's rules take it: text values.
      assert.deepEqual(out[0]!.payload, [
        { attrKey: 'room', attrValue: 'hall' },
        { attrKey: 'floor', attrValue: '3' },
        { attrKey: 'lit', attrValue: 'true' },
        { attrKey: 'label', attrValue: '客厅灯' },
      ]);
      assert.deepEqual(
        out.map((m) => m.topic),
        ['tags-updated', 'tags-updated', 'tags-deleted', 'tags-deleted', 'tags-deleted'],
      );
      assert.deepEqual(out[3]!.payload, [{ attrKey: 'floor' }, { attrKey: 'gone-already' }]);
      const done = completions('tags');
      assert.equal(done.length, 5);
      assert.ok(done.every((c) => c.err === undefined));
    });

    it('a reply settles only the message of its id, once: another id is ignored, a second reply too', async () => {
      const emu = emulator();
      // One message a second: the second update waits on the device while the replies below arrive.
      const out = await load(D.tagsIds, tagsFlow, { rateLimit: '1' });
      assert.equal(await inject('tags', { payload: { a: '1' } }), undefined);
      const first = JSON.parse(tagMessages(D.tagsIds).at(-1)!.payload) as { id: string };
      const next = String(Number(first.id) + 1);
      const replyTopic = `${sys(D.tagsIds)}/thing/deviceinfo/update_reply`;
      const forged = (id: string, code: number) => JSON.stringify({ id, code, data: {}, message: `forged ${id}` });

      const second = inject('tags', { payload: { b: '2' } }, 15_000);
      // Nothing has gone out yet: the paced message waits for its slot.
      assert.equal(tagMessages(D.tagsIds).length, 1);
      await emu.platform.publishDown(replyTopic, forged(String(Number(first.id) + 50), 460), 0);
      await emu.platform.publishDown(replyTopic, forged(next, 6100), 0);
      const err = (await second) as Coded | undefined;
      assert.ok(err);
      // code: the platform's; packageCode: the package's.
      assert.deepEqual([err.code, err.packageCode], [6100, 'TAGS_REFUSED'], 'settled by the reply of its id only');
      assert.match(err.message, /6100/);
      assert.match(err.message, new RegExp(`forged ${next}`));
      // The request still goes out when its slot comes; the platform's own 200 reply finds nothing waiting.
      await eventually(() => tagMessages(D.tagsIds).length === 2, 5000, 'the paced update sent');
      assert.equal((JSON.parse(tagMessages(D.tagsIds)[1]!.payload) as { id: string }).id, next);
      assert.equal(await inject('tags', { payload: { c: '3' } }, 15_000), undefined);
      assert.deepEqual(
        completions('tags').map((c) => (c.err as { packageCode?: string } | undefined)?.packageCode),
        [undefined, 'TAGS_REFUSED', undefined],
        'three messages, three completions',
      );
      await eventually(() => out.length === 2, 5000, 'the two updates that succeeded out');
      assert.deepEqual(
        out.map((m) => m.payload),
        [[{ attrKey: 'a', attrValue: '1' }], [{ attrKey: 'c', attrValue: '3' }]],
      );
      // Node-RED logs the error done() got, and only that one.
      assert.deepEqual(loggedBy('tags', 'error'), [String(err)]);
    });

    it('refuses invalid tags before sending, with a localized error; nothing reaches the platform', async () => {
      const out = await load(D.tagsBad, tagsFlow);
      const many = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`k${i}`, 'v']));
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ payload: many }, 'TAGS_INVALID', /201 tags, at most 200/],
        [{ action: 'delete', payload: Object.keys(many) }, 'TAGS_INVALID', /201 tags, at most 200/],
        [{ payload: { 'a b': 'x' } }, 'TAGS_INVALID', /may hold only/],
        [{ payload: { 'key/slash': 'x' } }, 'TAGS_INVALID', /may hold only/],
        [{ payload: { ['k'.repeat(31)]: 'x' } }, 'TAGS_INVALID', /longer than 30/],
        [{ payload: { ok: 'x'.repeat(129) } }, 'TAGS_INVALID', /longer than 128/],
        [{ payload: { ok: { nested: 1 } } }, 'TAGS_INVALID', /no text value/],
        [{ payload: { ok: null } }, 'TAGS_INVALID', /no text value/],
        [{ payload: [{ attrKey: 5, attrValue: 'x' }] }, 'TAGS_INVALID', /empty/],
        [{ payload: {} }, 'TAGS_INVALID', /give tags/],
        [{ payload: 'room' }, 'TAGS_INVALID', /give tags/],
        [{ action: 'delete', payload: [7] }, 'TAGS_INVALID', /empty/],
        [{ action: 'delete', payload: 42 }, 'TAGS_INVALID', /give a tag key/],
        [{ action: 'wipe', payload: { a: 'b' } }, 'TAGS_ACTION_INVALID', /must be update or delete/],
      ];
      for (const [msg, code, text] of cases) {
        const err = (await inject('tags', msg)) as Coded | undefined;
        const what = JSON.stringify(msg).slice(0, 80);
        assert.ok(err, what);
        assert.equal(err.code, code, what);
        // The message is the English text of the locale, not the bare code.
        assert.match(err.message, text, what);
        assert.doesNotMatch(err.message, /^TAGS_/, what);
      }
      // Exactly at the limits it goes out. Sent after the refused ones: anything they had sent arrived first.
      const edge = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'v']));
      edge['k'.repeat(30)] = '汉'.repeat(128);
      delete edge.k0;
      assert.equal(await inject('tags', { payload: edge }), undefined);
      assert.equal(tagMessages(D.tagsBad).length, 1, 'only the valid message reached the platform');
      assert.equal((await tagsOf(D.tagsBad))['k'.repeat(30)], '汉'.repeat(128));
      await eventually(() => out.length === 1, 5000, 'the valid message out');
    });
  });

  describe('raw data (command node raw: true, reply node)', () => {
    it('down_raw comes out as a Buffer; the reply goes on up_raw, or down_raw_reply when msg.replyTopic says', async () => {
      const emu = emulator();
      await load(D.raw, [
        { id: 'cmd', type: 'aliyun-iot-command', device: 'dev', raw: true, wires: [['seen']] },
        { id: 'reply', type: 'aliyun-iot-reply', device: 'dev' },
        { id: 'seen', type: 'helper' },
      ]);
      const seen = collect('seen');
      await eventually(
        () => record(D.raw).subscriptions.has(`${sys(D.raw)}/thing/model/down_raw`),
        5000,
        'subscribed to down_raw',
      );
      const call = (bytes: Buffer) =>
        https(emu, 'POST', `${api(D.raw)}/raw`, { payloadBase64: bytes.toString('base64'), timeoutMs: 5000 });

      // Bytes that are not UTF-8 text survive the way down and back.
      const down = Buffer.from([0x00, 0xff, 0x10, 0x80, 0xfe, 0x7f]);
      const answered = call(down);
      await eventually(() => seen.length === 1, 5000, 'the raw command');
      const command = seen[0] as Aliyun;
      assert.equal(command.topic, 'raw');
      assert.ok(Buffer.isBuffer(command.payload), 'a Buffer');
      assert.deepEqual(command.payload, down);
      assert.equal(command.aliyun.kind, 'raw');
      const up = Buffer.from([0xaa, 0x01, 0x00, 0xc3]);
      assert.equal(await inject('reply', { ...command, payload: up }), undefined);
      const first = await answered;
      assert.equal(first.body.code, 'SUCCESS');
      assert.equal(first.body.replyTopic, `${sys(D.raw)}/thing/model/up_raw`);
      assert.equal(first.body.replyBase64, up.toString('base64'));

      const again = call(Buffer.from([0x01, 0x02]));
      await eventually(() => seen.length === 2, 5000, 'the second raw command');
      assert.equal(
        (await inject('reply', { ...seen[1]!, payload: Buffer.from([0x09]), replyTopic: 'down_raw_reply' }))?.message,
        undefined,
      );
      const second = await again;
      assert.equal(second.body.replyTopic, `${sys(D.raw)}/thing/model/down_raw_reply`);
      assert.equal(second.body.replyBase64, Buffer.from([0x09]).toString('base64'));
      // Any other reply topic is refused, and nothing is sent.
      const third = https(emu, 'POST', `${api(D.raw)}/raw`, { payloadBase64: 'Aw==', timeoutMs: 1000 });
      await eventually(() => seen.length === 3, 5000, 'the third raw command');
      const bad = await inject('reply', { ...seen[2]!, payload: Buffer.from([1]), replyTopic: 'up_raw_reply' });
      assert.equal(bad?.code, 'RAW_REPLY_TOPIC_INVALID');
      assert.equal((await third).body.code, 'TIMEOUT', 'nothing was sent for the refused reply');

      const recent = (await https(emu, 'GET', `${api(D.raw)}/raw`)).body as unknown as {
        topic: string;
        payloadBase64: string;
      }[];
      assert.deepEqual(
        recent.map((m) => [m.topic.split('/').at(-1), m.payloadBase64]),
        [
          ['up_raw', up.toString('base64')],
          ['down_raw_reply', Buffer.from([0x09]).toString('base64')],
        ],
      );
    });
  });

  describe('custom-topic RRPC (command node rrpcTopic)', () => {
    it('logs in with ext=1; /ext/rrpc/{messageId}/{topic} reaches the command node, the reply returns to the caller', async () => {
      const emu = emulator();
      const topic = `/${D.rrpcExt.productKey}/${D.rrpcExt.deviceName}/user/get`;
      await load(D.rrpcExt, [
        { id: 'cmd', type: 'aliyun-iot-command', device: 'dev', rrpcTopic: 'user/get', wires: [['seen']] },
        // Another device's topic: refused with an error, subscribed to nothing.
        { id: 'bad', type: 'aliyun-iot-command', device: 'dev', rrpcTopic: '/pkOther/x/user/get', wires: [[]] },
        { id: 'reply', type: 'aliyun-iot-reply', device: 'dev' },
        { id: 'seen', type: 'helper' },
      ]);
      const seen = collect('seen');
      assert.equal(record(D.rrpcExt).extRrpc, true, 'ext=1 in the ClientId');
      assert.equal((await https(emu, 'GET', api(D.rrpcExt))).body.extRrpc, true);
      await eventually(
        () => record(D.rrpcExt).subscriptions.has(`/ext/rrpc/+${topic}`),
        5000,
        'subscribed to the custom RRPC topic',
      );
      // A valid topic with ext=1 on is neither warned about nor reported as invalid.
      assert.deepEqual(loggedBy('cmd', 'error'), []);
      assert.deepEqual(loggedBy('cmd', 'warn'), []);
      assert.deepEqual(loggedBy('bad', 'error'), [
        "The RRPC topic /pkOther/x/user/get is not one of the device's own topics (/productKey/deviceName/...)",
      ]);
      assert.ok(![...record(D.rrpcExt).subscriptions].some((f) => f.includes('pkOther')));

      const call = https(emu, 'POST', `${api(D.rrpcExt)}/rrpc`, { topic, payload: 'ping', timeoutMs: 5000 });
      await eventually(() => seen.length === 1, 5000, 'the RRPC request');
      const request = seen[0] as Aliyun;
      assert.equal(request.topic, topic);
      assert.equal(request.payload, 'ping');
      assert.equal(request.aliyun.kind, 'topic-rrpc');
      assert.match(String(request.aliyun.replyTo), new RegExp(`^/ext/rrpc/\\d+${topic}$`));
      assert.equal(await inject('reply', { ...request, payload: 'pong' }), undefined);
      const answer = await call;
      assert.equal(answer.status, 200);
      assert.equal(answer.body.code, 'SUCCESS');
      assert.equal(answer.body.reply, 'pong');
      assert.equal(request.aliyun.replyTo, `/ext/rrpc/${String(answer.body.messageId)}${topic}`);
      assert.ok(
        record(D.rrpcExt).uplink.some((m) => m.topic === request.aliyun.replyTo && m.payload === 'pong'),
        'answered on the very topic it came on',
      );
      // With ext=1 a synchronous service comes in the /ext/rrpc/ form too, and is answered there.
      const service = https(emu, 'POST', `${api(D.rrpcExt)}/rrpc`, {
        service: 'Echo',
        params: { n: 1 },
        timeoutMs: 5000,
      });
      await eventually(() => seen.length === 2, 5000, 'the service call');
      assert.equal(seen[1]!.topic, 'service/Echo');
      assert.match(String((seen[1] as Aliyun).aliyun.replyTo), /^\/ext\/rrpc\/\d+\/sys\//);
      assert.equal(await inject('reply', { ...seen[1]!, payload: { n: 2 } }), undefined);
      assert.deepEqual(((await service).body.reply as { data: unknown }).data, { n: 2 });
    });

    it('without a command node answering a custom topic (or with it disabled), no ext=1', async () => {
      const emu = emulator();
      await load(D.rrpcPlain, [
        { id: 'cmd', type: 'aliyun-iot-command', device: 'dev', wires: [['seen']] },
        { id: 'off', type: 'aliyun-iot-command', device: 'dev', rrpcTopic: 'user/get', d: true, wires: [[]] },
        { id: 'seen', type: 'helper' },
      ]);
      await eventually(() => flowSubscriptions(record(D.rrpcPlain)) >= 3, 5000, 'command filters');
      assert.notEqual(record(D.rrpcPlain).extRrpc, true);
      assert.equal((await https(emu, 'GET', api(D.rrpcPlain))).body.extRrpc, undefined);
      const topic = `/${D.rrpcPlain.productKey}/${D.rrpcPlain.deviceName}/user/get`;
      const refused = await https(emu, 'POST', `${api(D.rrpcPlain)}/rrpc`, { topic, payload: 'ping', timeoutMs: 2000 });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.code, 'EXT_RRPC_OFF');
      assert.equal(collect('seen').length, 0);
    });
  });

  describe('lifecycle (thing/disable, thing/enable, thing/delete)', () => {
    const lifecycleFlow = [
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
    const connection = () => (helper.getNode('dev') as unknown as { connection: DeviceChannel }).connection;
    const lastStatus = () =>
      (
        helper.getNode('conn') as unknown as {
          status: { lastCall: { args: [{ fill: string; shape: string; text: string }] } };
        }
      ).status.lastCall.args[0];

    /**
     * `probe` does not change for `ms` (failing at once if it does). The window is what a dropped
     * connection takes to come back several times over (fastPool: 100-400 ms), measured just before.
     */
    async function staysUnchanged(probe: () => string, ms: number, what: string): Promise<void> {
      const before = probe();
      const until = Date.now() + ms;
      await eventually(
        () => {
          const now = probe();
          if (now !== before) throw new Error(`${what}: ${before} became ${now}`);
          return Date.now() >= until;
        },
        ms + 5000,
        what,
      );
    }

    /** How long the connection takes to come back after the cloud drops it: the yardstick for "no reconnect". */
    async function reconnectTime(d: TestDevice): Promise<number> {
      const connects = record(d).counters.connects;
      const started = Date.now();
      const dropped = await https(emulator(), 'POST', `${api(d)}/disconnect`);
      assert.equal(dropped.body.disconnected, true);
      await eventually(
        () => record(d).counters.connects === connects + 1 && record(d).online,
        10_000,
        'back after a plain cloud disconnect',
      );
      return Date.now() - started;
    }

    it('disable: answered, state disabled, no reconnect; enable cannot reach it, the connect action brings it back', async () => {
      const emu = emulator();
      const d = D.disable;
      await load(d, lifecycleFlow);
      const states = collect('states');
      const window = Math.max(2000, 4 * (await reconnectTime(d)));

      const answer = await https(emu, 'POST', `${api(d)}/disable`);
      assert.equal(answer.status, 200);
      assert.deepEqual(
        [answer.body.disabled, answer.body.online, answer.body.notified, answer.body.replied],
        [true, true, true, true],
      );
      assert.equal((answer.body.reply as { code: unknown }).code, 200);
      await eventually(() => states.some((m) => m.topic === 'disabled'), 5000, 'the disabled state out');
      await eventually(() => !record(d).online, 5000, 'offline');
      // Halted: a stopped connection that says why, with no retry planned.
      const halted = connection().status;
      assert.deepEqual([halted.state, halted.reason, halted.nextRetryMs], ['disabled', 'thing/disable', undefined]);
      // The catalogue's "disabled by the cloud" in Node-RED; the bare state where the helper has no catalogue.
      assert.deepEqual({ ...lastStatus(), text: undefined }, { fill: 'red', shape: 'ring', text: undefined });
      assert.match(lastStatus().text, /^disabled( by the cloud)?$/);
      const probe = () =>
        JSON.stringify([record(d).counters.connects, record(d).counters.refused, record(d).online, connection().state]);
      await staysUnchanged(probe, window, 'no login attempt while disabled');
      assert.equal(record(d).counters.refused.disabled, undefined, 'not even a refused one');

      // Enabled in the registry; the notice cannot reach a device that is offline, so nothing changes.
      const enabled = await https(emu, 'POST', `${api(d)}/enable`);
      assert.deepEqual([enabled.body.disabled, enabled.body.online, enabled.body.notified], [false, false, false]);
      assert.equal(record(d).disabled, false);
      await staysUnchanged(probe, 1000, 'still stopped after enable');
      assert.equal(connection().state, 'disabled');

      const connects = record(d).counters.connects;
      assert.equal(await inject('conn', { action: 'connect' }), undefined);
      await eventually(() => record(d).online && connection().state === 'connected', 10_000, 'back online');
      assert.equal(record(d).counters.connects, connects + 1);
      const topics = states.map((m) => m.topic);
      assert.ok(topics.lastIndexOf('connected') > topics.indexOf('disabled'), topics.join());
      assert.deepEqual(
        emu.lifecycle.repliesOf(record(d)).map((r) => r.notice),
        ['disable'],
      );
    });

    it('delete: answered, state deleted, no reconnect; a connect action is then refused', async () => {
      const emu = emulator();
      const d = D.doomed;
      await load(d, lifecycleFlow);
      const states = collect('states');
      const window = Math.max(2000, 4 * (await reconnectTime(d)));

      const answer = await https(emu, 'POST', `${api(d)}/delete`);
      assert.deepEqual([answer.body.deleted, answer.body.notified, answer.body.replied], [true, true, true]);
      assert.equal((answer.body.reply as { code: unknown }).code, 200);
      await eventually(() => states.some((m) => m.topic === 'deleted'), 5000, 'the deleted state out');
      assert.equal(emu.registry.device(d.productKey, d.deviceName), undefined);
      assert.equal((await https(emu, 'GET', api(d))).status, 404);
      const halted = connection().status;
      assert.deepEqual([halted.state, halted.reason, halted.nextRetryMs], ['deleted', 'thing/delete', undefined]);
      assert.deepEqual({ ...lastStatus(), text: undefined }, { fill: 'red', shape: 'ring', text: undefined });
      assert.match(lastStatus().text, /^deleted( in the cloud)?$/);
      const refusals = () => emu.registry.unknownLogins.deleted ?? 0;
      const probe = () => JSON.stringify([refusals(), connection().state]);
      await staysUnchanged(probe, window, 'no login attempt once deleted');
      assert.equal(refusals(), 0);

      // The flow may insist: the platform refuses the deleted device (CONNACK 5) and the connection backs off.
      assert.equal(await inject('conn', { action: 'connect' }), undefined);
      await eventually(() => refusals() === 1 && connection().state === 'auth-failed', 10_000, 'refused');
      assert.equal(connection().status.code, 5);
    });
  });
});
