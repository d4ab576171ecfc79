// Remote configuration against the emulator (PLATFORM.md §15.1): config/get before and after
// a configuration exists (fields under `data`), the push to every online device of the product
// (fields under `params`), the file behind the URL matching `sign`, push replies (C3's malformed
// one included), and the API's refusals.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { alinkCall, connectSigned, eventually, https, nextMessage, start } from '../helpers/emulator';
import { download } from './ota-fixture';

const pk = 'pkConfig';
const one = { productKey: pk, deviceName: 'one', deviceSecret: 'one-secret' };
const two = { productKey: pk, deviceName: 'two', deviceSecret: 'two-secret' };
const offline = { productKey: pk, deviceName: 'offline', deviceSecret: 'offline-secret' };
const other = { productKey: 'pkOther', deviceName: 'other', deviceSecret: 'other-secret' };
const api = (productKey: string) => `/api/products/${productKey}/config`;
const getTopic = (d: { productKey: string; deviceName: string }) =>
  `/sys/${d.productKey}/${d.deviceName}/thing/config/get`;
const pushTopic = (d: { productKey: string; deviceName: string }) =>
  `/sys/${d.productKey}/${d.deviceName}/thing/config/push`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FIELDS = ['configId', 'configSize', 'getType', 'sign', 'signMethod', 'url'];

describe('emulator: remote configuration', () => {
  let emu: Emulator;
  let first: MqttClient;
  let second: MqttClient;
  let third: MqttClient;
  // The doc's request: a numeric id, sys.ack 0, scope product, type file.
  const docRequest = {
    id: 123,
    version: '1.0',
    sys: { ack: 0 },
    params: { configScope: 'product', getType: 'file' },
    method: 'thing.config.get',
  };

  before(async () => {
    emu = await start({ rateLimit: 0, devices: [one, two, offline, other], log: () => undefined });
    first = await connectSigned(emu, one);
    second = await connectSigned(emu, two);
    third = await connectSigned(emu, other);
    for (const [client, d] of [
      [first, one],
      [second, two],
      [third, other],
    ] as const)
      await client.subscribeAsync(pushTopic(d), { qos: 1 });
  });
  after(async () => {
    for (const client of [first, second, third]) await client.endAsync(true);
    await emu.close();
  });

  it('answers config/get with 6710 and empty data before any configuration, echoing a numeric id', async () => {
    const reply = await alinkCall(first, getTopic(one), docRequest);
    assert.equal(reply.id, 123);
    assert.deepEqual([reply.code, reply.data, reply.version], [6710, {}, '1.0']);
    assert.equal(typeof reply.message, 'string');
    assert.equal((await https(emu, 'GET', api(pk))).status, 404);
  });

  it('stores a configuration and pushes it, fields under params, to every online device of the product', async () => {
    const content = { interval: 30, servers: ['a', 'b'] };
    const pushes = [nextMessage(first, pushTopic(one)), nextMessage(second, pushTopic(two))];
    const answer = await https(emu, 'POST', api(pk), { content });
    assert.equal(answer.status, 200);
    assert.deepEqual((answer.body.pushedTo as string[]).sort(), ['one', 'two']);
    const file = Buffer.from(JSON.stringify(content));
    assert.deepEqual(
      [answer.body.configSize, answer.body.sign, answer.body.signMethod, answer.body.getType],
      [file.length, sha256(file), 'Sha256', 'file'],
    );
    for (const pushed of await Promise.all(pushes)) {
      const push = JSON.parse(pushed.payload.toString()) as {
        id: unknown;
        version: unknown;
        method: unknown;
        params: Record<string, unknown>;
      };
      assert.equal(typeof push.id, 'string');
      assert.match(String(push.id), /^\d+$/);
      assert.deepEqual([push.version, push.method], ['1.0', 'thing.config.push']);
      assert.deepEqual(Object.keys(push.params).sort(), FIELDS);
      assert.equal(push.params.configId, answer.body.configId);
      const got = await download(emu, String(push.params.url));
      assert.equal(got.status, 200);
      assert.equal(sha256(got.body), push.params.sign);
      assert.equal(got.body.length, push.params.configSize);
      const expires = Number(new URL(String(push.params.url)).searchParams.get('Expires'));
      assert.ok(Math.abs(expires * 1000 - Date.now() - 30 * 60_000) < 60_000, 'the URL is valid 30 minutes');
    }
  });

  it('answers config/get with the configuration under data; the product of another device has none', async () => {
    const reply = await alinkCall(second, getTopic(two), { ...docRequest, id: '77' });
    assert.equal(reply.id, '77');
    assert.deepEqual([reply.code, reply.message, reply.version], [200, 'success', '1.0']);
    const data = reply.data as Record<string, unknown>;
    assert.deepEqual(Object.keys(data).sort(), FIELDS);
    assert.deepEqual([data.signMethod, data.getType], ['Sha256', 'file']);
    const got = await download(emu, String(data.url));
    assert.equal(sha256(got.body), data.sign);
    assert.deepEqual(JSON.parse(got.body.toString()), { interval: 30, servers: ['a', 'b'] });
    // Missing scope and type are taken as product/file; other values are refused with 460.
    assert.equal((await alinkCall(second, getTopic(two), { id: 1 })).code, 200);
    assert.equal((await alinkCall(second, getTopic(two), { id: 2, params: { configScope: 'device' } })).code, 460);
    assert.equal((await alinkCall(second, getTopic(two), { id: 3, params: { getType: 'inline' } })).code, 460);
    assert.deepEqual((await alinkCall(second, getTopic(two), 'nope')).code, 460);
    assert.equal((await alinkCall(third, getTopic(other), { id: 4, params: {} })).code, 6710);
  });

  it('records push replies, and tolerates the C SDK 3.x reply without braces', async () => {
    const replyTopic = (d: typeof one) => `${pushTopic(d)}_reply`;
    await first.publishAsync(replyTopic(one), JSON.stringify({ id: '5', code: 200, data: {} }));
    // Another client's messages may overtake it (QoS 0 completes when sent): it is recorded first.
    await eventually(() => emu.remoteConfig.configs.replies(pk).length === 1, 5000, 'the first reply');
    // C3's failure reply (ota_mqtt.c): `"id":123,"code":"400","data":{}` with no enclosing braces.
    await second.publishAsync(replyTopic(two), '"id":123,"code":"400","data":{}');
    await second.publishAsync(replyTopic(two), Buffer.from([0xff, 0x00, 0x7b]));
    await eventually(() => emu.remoteConfig.configs.replies(pk).length === 3, 5000, 'three replies');
    const body = (await https(emu, 'GET', api(pk))).body;
    const replies = body.replies as Record<string, unknown>[];
    assert.deepEqual(
      replies.map((r) => [r.deviceName, r.id, r.code, r.malformed ?? false]),
      [
        ['one', '5', 200, false],
        ['two', 123, '400', true],
        ['two', null, null, true],
      ],
    );
    assert.equal(replies[1]?.raw, '"id":123,"code":"400","data":{}');
    // The emulator still answers.
    assert.equal((await alinkCall(first, getTopic(one), { id: 6 })).code, 200);
  });

  it('shows the current configuration, the pushes sent, and a new configId for each update', async () => {
    const before = (await https(emu, 'GET', api(pk))).body;
    assert.deepEqual(before.content, '{"interval":30,"servers":["a","b"]}');
    assert.equal('url' in before, false);
    assert.deepEqual((before.pushes as { deviceName: string }[]).map((p) => p.deviceName).sort(), ['one', 'two']);
    const pushed = nextMessage(first, pushTopic(one));
    const text = '{"interval":60}';
    const answer = await https(emu, 'POST', api(pk), { content: text });
    assert.notEqual(answer.body.configId, before.configId);
    const push = JSON.parse((await pushed).payload.toString()) as { params: Record<string, unknown> };
    assert.equal(push.params.configId, answer.body.configId);
    assert.equal((await download(emu, String(push.params.url))).body.toString(), text);
    const after = (await https(emu, 'GET', api(pk))).body;
    assert.deepEqual([after.content, (after.versions as unknown[]).length], [text, 2]);
  });

  it('refuses bad bodies with 400, an unknown product with 404', async () => {
    for (const body of [{}, { content: '' }, { content: null }, { content: 'x'.repeat(64 * 1024 + 1) }]) {
      const answer = await https(emu, 'POST', api(pk), body);
      assert.equal(answer.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(answer.body.code, 'BAD_REQUEST');
    }
    assert.equal((await https(emu, 'POST', api(pk), { content: 'x'.repeat(64 * 1024) })).status, 200);
    assert.equal((await https(emu, 'POST', api('pkNobody'), { content: 'x' })).status, 404);
    assert.equal((await https(emu, 'PUT', api(pk), { content: 'x' })).status, 405);
    // The thing-model route beside it is unchanged.
    assert.equal((await https(emu, 'GET', `/api/products/${pk}/tsl`)).body.code, 'TSL_NOT_FOUND');
  });
});
