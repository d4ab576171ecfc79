// RRPC's `/ext/rrpc/` form (PLATFORM.md §16.2, §10 item 6): chosen by the ClientId's `ext` bit0,
// for sync services, custom topics and sync raw calls, answered on the request's own topic; the
// original `/sys/.../rrpc/request` form without it; and a device kept to its own `/ext/rrpc/` topics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { extRrpcBit } from '../../emulator/ext-rrpc';
import type { Emulator } from '../../emulator/index';
import { deviceOwnsTopic } from '../../emulator/topics';
import { connectSigned, eventually, https, start } from '../helpers/emulator';
import { apiOf, bindAndLogin, sysOf, type Login } from './device-fixture';

const ext = { productKey: 'pkRrpc', deviceName: 'ext', deviceSecret: 'ext-secret' };
const plain = { productKey: 'pkRrpc', deviceName: 'plain', deviceSecret: 'plain-secret' };
const other = { productKey: 'pkRrpc', deviceName: 'other', deviceSecret: 'other-secret' };
const gw = { productKey: 'pkRrpcGw', deviceName: 'gw', deviceSecret: 'gw-secret' };
const sub = { productKey: 'pkRrpcSub', deviceName: 'sub', deviceSecret: 'sub-secret' };

type Request = { topic: string; payload: Buffer; qos: number };

/** The `/ext/rrpc/` requests a client receives, answered by `answer` on the same topic (QoS given). */
function serve(client: MqttClient, answer: (r: Request) => Buffer | string | undefined, qos: 0 | 1 = 0): Request[] {
  const seen: Request[] = [];
  client.on('message', (topic: string, payload: Buffer, packet: { qos: number }) => {
    if (!topic.startsWith('/ext/rrpc/')) return;
    const request = { topic, payload, qos: packet.qos };
    seen.push(request);
    const reply = answer(request);
    if (reply !== undefined) void client.publishAsync(topic, reply, { qos });
  });
  return seen;
}

describe('emulator: the /ext/rrpc/ rules', () => {
  it('reads bit0 of the ClientId ext bitmap (L4 "bit0-rrpc")', () => {
    for (const [value, on] of [
      ['1', true],
      ['3', true],
      ['0', false],
      ['2', false],
      ['x', false],
      ['', false],
    ] as const)
      assert.equal(extRrpcBit(value), on, value);
    assert.equal(extRrpcBit(undefined), false);
  });
  it("gives a device its own /ext/rrpc/ topics and filters, under sys or a custom topic's pk/dn", () => {
    const owns = (t: string) => deviceOwnsTopic('pk', 'dn', t);
    for (const t of ['/ext/rrpc/+/sys/pk/dn/thing/service/+', '/ext/rrpc/12/pk/dn/user/get', '/ext/rrpc/+/pk/dn/#'])
      assert.equal(owns(t), true, t);
    for (const t of ['/ext/rrpc/12/pk/other/user/get', '/ext/rrpc/12/sys/pk/dn', '/ext/rrpc/#', '/ext/rrpc/+/+/dn/x'])
      assert.equal(owns(t), false, t);
  });
});

describe('emulator: RRPC in the /ext/rrpc/ form', () => {
  let emu: Emulator;
  const open: MqttClient[] = [];
  const connect = async (d: Login, flags = '') => {
    const client = await connectSigned(emu, d, flags);
    open.push(client);
    return client;
  };
  before(async () => {
    emu = await start({
      rateLimit: 0,
      products: [{ productKey: gw.productKey, nodeType: 'gateway' }],
      devices: [ext, plain, other, gw, sub],
    });
  });
  after(async () => {
    for (const c of open) await c.endAsync(true);
    await emu.close();
  });

  it('calls a sync service of an ext=1 device on /ext/rrpc/{id}/sys/.../thing/service/{id}, answered on that topic', async () => {
    const client = await connect(ext, ',ext=1');
    await client.subscribeAsync(`/ext/rrpc/+${sysOf(ext)}/thing/service/+`, { qos: 0 });
    const seen = serve(client, ({ payload }) => {
      const request = JSON.parse(payload.toString()) as { id: string; params: { n: number } };
      return JSON.stringify({ id: request.id, code: 200, data: { n: request.params.n + 1 } });
    });
    const answer = await https(emu, 'POST', `${apiOf(ext)}/rrpc`, {
      service: 'Echo',
      params: { n: 1 },
      timeoutMs: 3000,
    });
    assert.equal(answer.status, 200);
    const body = answer.body as { messageId: string; code: string; id: string; reply: unknown; replyBase64: string };
    assert.equal(body.code, 'SUCCESS');
    assert.deepEqual(body.reply, { id: body.id, code: 200, data: { n: 2 } });
    assert.deepEqual(JSON.parse(Buffer.from(body.replyBase64, 'base64').toString()), body.reply);
    // Exactly one request, on the documented topic; the device's own reply did not come back to it.
    assert.deepEqual(
      seen.map((r) => r.topic),
      [`/ext/rrpc/${body.messageId}${sysOf(ext)}/thing/service/Echo`],
    );
    const request = JSON.parse(seen[0]!.payload.toString()) as Record<string, unknown>;
    assert.deepEqual([request.method, request.version, request.params], ['thing.service.Echo', '1.0', { n: 1 }]);
    assert.equal((await https(emu, 'GET', apiOf(ext))).body.extRrpc, true);
  });

  it('calls a custom topic (leading slash kept) and takes a QoS 1 reply on the same topic', async () => {
    const client = await connect(ext, ',ext=3');
    const custom = `/${ext.productKey}/${ext.deviceName}/user/get`;
    await client.subscribeAsync(`/ext/rrpc/+${custom}`, { qos: 0 });
    const seen = serve(client, ({ payload }) => Buffer.concat([Buffer.from('re:'), payload]), 1);
    const answer = await https(emu, 'POST', `${apiOf(ext)}/rrpc`, { topic: custom, payload: 'ping', timeoutMs: 3000 });
    const body = answer.body as { messageId: string; code: string; reply: string; replyBase64: string };
    assert.deepEqual(
      [body.code, body.reply, body.replyBase64],
      ['SUCCESS', 're:ping', Buffer.from('re:ping').toString('base64')],
    );
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.topic, `/ext/rrpc/${body.messageId}/${ext.productKey}/${ext.deviceName}/user/get`);
    assert.match(body.messageId, /^\d+$/);
    for (const topic of [
      `/${other.productKey}/${other.deviceName}/user/get`,
      `${custom}/+`,
      `/ext/rrpc/1${custom}`,
      '',
    ])
      assert.equal((await https(emu, 'POST', `${apiOf(ext)}/rrpc`, { topic, payload: 'x' })).status, 400, topic);
  });

  it('sends a sync raw call on /ext/rrpc/{id}/sys/.../thing/model/down_raw, bytes both ways', async () => {
    const client = await connect(ext, ',ext=1,_ss=1');
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a]);
    // `_ss=1`: no SUBSCRIBE at all.
    const seen = serve(client, ({ payload }) => Buffer.from([...payload].reverse()));
    const answer = await https(emu, 'POST', `${apiOf(ext)}/rrpc`, {
      raw: true,
      payloadBase64: bytes.toString('base64'),
      timeoutMs: 3000,
    });
    const body = answer.body as { messageId: string; code: string; replyBase64: string };
    assert.equal(body.code, 'SUCCESS');
    assert.deepEqual([...Buffer.from(body.replyBase64, 'base64')], [...bytes].reverse());
    assert.deepEqual(
      seen.map((r) => [r.topic, [...r.payload]]),
      [[`/ext/rrpc/${body.messageId}${sysOf(ext)}/thing/model/down_raw`, [...bytes]]],
    );
  });

  it('times out when the device stays silent, and answers OFFLINE for an offline device', async () => {
    const client = await connect(ext, ',ext=1');
    await client.subscribeAsync(`/ext/rrpc/+${sysOf(ext)}/thing/service/+`, { qos: 0 });
    const silent = await https(emu, 'POST', `${apiOf(ext)}/rrpc`, { service: 'Nap', params: {}, timeoutMs: 1000 });
    assert.equal((silent.body as { code: string }).code, 'TIMEOUT');
    const offline = await https(emu, 'POST', `${apiOf(other)}/rrpc`, { service: 'Nap', params: {}, timeoutMs: 1000 });
    assert.equal((offline.body as { code: string }).code, 'OFFLINE');
  });

  it('keeps the original form for a device without ext bit0, and refuses custom-topic RRPC to it', async () => {
    const client = await connect(plain, ',ext=0');
    const prefix = `${sysOf(plain)}/rrpc/request/`;
    await client.subscribeAsync(`${prefix}+`, { qos: 0 });
    const extSeen = serve(client, () => 'wrong form');
    client.on('message', (topic: string, payload: Buffer) => {
      if (!topic.startsWith(prefix)) return;
      const request = JSON.parse(payload.toString()) as { id: string };
      const response = `${sysOf(plain)}/rrpc/response/${topic.slice(prefix.length)}`;
      void client.publishAsync(response, JSON.stringify({ id: request.id, code: 200, data: {} }), { qos: 0 });
    });
    const answer = await https(emu, 'POST', `${apiOf(plain)}/rrpc`, { service: 'Echo', params: {}, timeoutMs: 3000 });
    const body = answer.body as { code: string; reply: { code: number }; replyBase64: string };
    assert.deepEqual([body.code, body.reply.code], ['SUCCESS', 200]);
    assert.equal(typeof body.replyBase64, 'string');
    assert.deepEqual(extSeen, []);
    const custom = `/${plain.productKey}/${plain.deviceName}/user/get`;
    const refused = await https(emu, 'POST', `${apiOf(plain)}/rrpc`, { topic: custom, payload: 'x', timeoutMs: 1000 });
    assert.deepEqual([refused.status, refused.body.code], [409, 'EXT_RRPC_OFF']);
    assert.equal(emu.registry.device(plain.productKey, plain.deviceName)?.extRrpc, false);
  });

  it("keeps a device out of another device's /ext/rrpc/ topics: no subscription, no delivery, no forged reply", async () => {
    const target = await connect(ext, ',ext=1');
    await target.subscribeAsync(`/ext/rrpc/+${sysOf(ext)}/thing/service/+`, { qos: 0 });
    const requests = serve(target, () => undefined);
    const intruder = await connect(other, ',ext=1');
    const refused = await intruder
      .subscribeAsync(`/ext/rrpc/+${sysOf(ext)}/thing/service/+`, { qos: 0 })
      .catch((err: unknown) => err);
    const granted =
      (refused as { packet?: { granted?: number[] } }).packet?.granted ??
      (refused as { qos: number }[]).map((g) => g.qos);
    assert.deepEqual(granted, [128]);
    // `/ext/rrpc/#` is allowed (GO3P) but delivers only the intruder's own requests.
    await intruder.subscribeAsync('/ext/rrpc/#', { qos: 0 });
    const overheard = serve(intruder, () => undefined);
    const call = https(emu, 'POST', `${apiOf(ext)}/rrpc`, { service: 'Secret', params: {}, timeoutMs: 1000 });
    await eventually(() => requests.length === 1, 3000, 'the request at the target');
    const topic = requests[0]!.topic;
    const drops = () => emu.registry.device(other.productKey, other.deviceName)?.counters.drops['forbidden-topic'] ?? 0;
    const before = drops();
    await intruder.publishAsync(topic, JSON.stringify({ id: '1', code: 200, data: { forged: true } }), { qos: 1 });
    await eventually(() => drops() === before + 1, 3000, 'the forged reply dropped');
    assert.equal(((await call).body as { code: string }).code, 'TIMEOUT');
    assert.equal(overheard.length, 0);
    // Its own requests do reach it through `/ext/rrpc/#`.
    const mine = https(emu, 'POST', `${apiOf(other)}/rrpc`, { service: 'Mine', params: {}, timeoutMs: 1000 });
    await eventually(() => overheard.length === 1, 3000, 'its own request');
    assert.ok(overheard[0]?.topic.endsWith(`${sysOf(other)}/thing/service/Mine`));
    await mine;
  });

  it("uses the gateway's ext flag for its logged-in sub-device, on the sub-device's pk/dn", async () => {
    const gateway = await connect(gw, ',ext=1');
    await bindAndLogin(gateway, gw, sub);
    await gateway.subscribeAsync(`/ext/rrpc/+${sysOf(sub)}/thing/service/+`, { qos: 0 });
    const seen = serve(gateway, ({ payload }) => {
      const request = JSON.parse(payload.toString()) as { id: string };
      return JSON.stringify({ id: request.id, code: 200, data: { via: 'gateway' } });
    });
    const answer = await https(emu, 'POST', `${apiOf(sub)}/rrpc`, { service: 'Ping', params: {}, timeoutMs: 3000 });
    const body = answer.body as { messageId: string; code: string; reply: { data: unknown } };
    assert.deepEqual([body.code, body.reply.data], ['SUCCESS', { via: 'gateway' }]);
    assert.equal(seen[0]?.topic, `/ext/rrpc/${body.messageId}${sysOf(sub)}/thing/service/Ping`);
  });
});
