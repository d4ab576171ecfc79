// Device tags (PLATFORM.md §15.2, DOC:89304): upsert and delete over MQTT, every rule refused
// with 460 and nothing stored, ids echoed with their JSON type, `sys.ack: 0`, sub-devices through a
// gateway, and tags across restarts.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { alinkCall, connectSigned, https, nextMessage, start } from '../helpers/emulator';
import { apiOf, bindAndLogin, collect, sysOf } from './device-fixture';

const meter = { productKey: 'pkTags', deviceName: 'meter', deviceSecret: 'meter-secret' };
const gw = { productKey: 'pkTagsGw', deviceName: 'gw', deviceSecret: 'gw-secret' };
const sub = { productKey: 'pkTagsSub', deviceName: 'sub', deviceSecret: 'sub-secret' };
const update = (d: typeof meter) => `${sysOf(d)}/thing/deviceinfo/update`;
const remove = (d: typeof meter) => `${sysOf(d)}/thing/deviceinfo/delete`;
const tag = (attrKey: string, attrValue: string) => ({ attrKey, attrValue });

describe('emulator: device tags', () => {
  let emu: Emulator;
  let client: MqttClient;
  const open: MqttClient[] = [];
  const tagsOf = async (d: typeof meter) => (await https(emu, 'GET', apiOf(d))).body.tags;
  before(async () => {
    emu = await start({
      rateLimit: 0,
      products: [{ productKey: gw.productKey, nodeType: 'gateway' }],
      devices: [meter, gw, sub],
    });
    client = await connectSigned(emu, meter);
    open.push(client);
  });
  after(async () => {
    for (const c of open) await c.endAsync(true);
    await emu.close();
  });

  it('upserts tags, keeps the others, deletes some; GET shows them as {key: value}', async () => {
    const first = await alinkCall(client, update(meter), {
      id: '1',
      version: '1.0',
      params: [tag('floor', '2f'), tag('room', '201')],
      method: 'thing.deviceinfo.update',
    });
    assert.deepEqual(first, { id: '1', code: 200, data: {}, message: 'success', version: '1.0' });
    assert.deepEqual(await tagsOf(meter), { floor: '2f', room: '201' });
    // "每次上报不会清除上一次的tag": an update adds and replaces, never clears.
    assert.equal(
      (await alinkCall(client, update(meter), { id: '2', params: [tag('room', '305'), tag('vendor', 'acme')] })).code,
      200,
    );
    assert.deepEqual(await tagsOf(meter), { floor: '2f', room: '305', vendor: 'acme' });
    const deleted = await alinkCall(client, remove(meter), {
      id: '3',
      params: [{ attrKey: 'floor' }, { attrKey: 'never-set' }],
      method: 'thing.deviceinfo.delete',
    });
    assert.deepEqual([deleted.code, deleted.data], [200, {}]);
    assert.deepEqual(await tagsOf(meter), { room: '305', vendor: 'acme' });
  });

  it('echoes ids verbatim with their JSON type; accepts domain SYSTEM and no method', async () => {
    const numeric = await alinkCall(client, update(meter), { id: 42, params: [tag('n', '1')] });
    assert.equal(numeric.id, 42);
    const node = '7|exp-topic|/sys/pkTags/meter/thing/deviceinfo/update_reply';
    assert.equal((await alinkCall(client, update(meter), { id: node, params: [tag('n', '2')] })).id, node);
    const system = await alinkCall(client, update(meter), {
      id: '8',
      params: [{ domain: 'SYSTEM', attrKey: 'SYS_SDK_LANGUAGE', attrValue: 'Python' }],
    });
    assert.equal(system.code, 200);
    assert.equal(((await tagsOf(meter)) as Record<string, string>).SYS_SDK_LANGUAGE, 'Python');
  });

  it('sends no reply for sys.ack 0, and still stores the tags', async () => {
    const replies = collect(client, `${update(meter)}_reply`);
    await client.subscribeAsync(`${update(meter)}_reply`, { qos: 0 });
    await client.publishAsync(
      update(meter),
      JSON.stringify({ id: '20', sys: { ack: 0 }, params: [tag('quiet', 'yes')] }),
    );
    // The next reply on the same connection comes after the one ack 0 would have produced.
    const next = nextMessage(client, `${update(meter)}_reply`);
    await client.publishAsync(
      update(meter),
      JSON.stringify({ id: '21', sys: { ack: 1 }, params: [tag('loud', 'yes')] }),
    );
    assert.equal((JSON.parse((await next).payload.toString()) as { id: unknown }).id, '21');
    assert.deepEqual(
      replies.map((r) => (JSON.parse(r.payload.toString()) as { id: unknown }).id),
      ['21'],
    );
    const tags = (await tagsOf(meter)) as Record<string, string>;
    assert.deepEqual([tags.quiet, tags.loud], ['yes', 'yes']);
  });

  it('refuses every broken rule with 460 naming the item, and stores nothing of that message', async () => {
    const before = await tagsOf(meter);
    const long = (n: number, c = 'a') => c.repeat(n);
    const cases: [params: unknown, names: RegExp][] = [
      [{ attrKey: 'a', attrValue: 'b' }, /non-empty array/],
      [[], /non-empty array/],
      [Array.from({ length: 201 }, (_, i) => tag(`k${i}`, 'v')), /201 items, at most 200/],
      [[tag('ok', '1'), 'text'], /params\[1\] must be an object/],
      [[tag('ok', '1'), { attrValue: 'x' }], /params\[1\]\.attrKey must be a string/],
      [[{ attrKey: 5, attrValue: 'x' }], /params\[0\]\.attrKey/],
      [[tag('', 'x')], /params\[0\]\.attrKey must be 1-30/],
      [[tag(long(31), 'x')], /params\[0\]\.attrKey must be 1-30/],
      [[tag('has space', 'x')], /params\[0\]\.attrKey/],
      [[tag('a/b', 'x')], /params\[0\]\.attrKey/],
      [[tag('温度', 'x')], /params\[0\]\.attrKey/],
      [[tag('ok', '1'), { attrKey: 'novalue' }], /params\[1\]\.attrValue must be a string/],
      [[{ attrKey: 'num', attrValue: 36.8 }], /params\[0\]\.attrValue must be a string/],
      [[tag('ok', '1'), tag('big', long(129))], /params\[1\]\.attrValue has more than 128/],
      [[tag('cn', long(129, '温'))], /params\[0\]\.attrValue has more than 128/],
    ];
    let id = 100;
    for (const [params, names] of cases) {
      const reply = await alinkCall(client, update(meter), { id: String(++id), params });
      assert.equal(reply.code, 460, JSON.stringify(params).slice(0, 80));
      assert.match(String(reply.message), names);
      assert.deepEqual([reply.id, reply.data], [String(id), {}]);
    }
    for (const params of [[], [{ attrKey: 'bad key' }], [{ attrKey: 'ok' }, 'x'], { attrKey: 'ok' }]) {
      assert.equal((await alinkCall(client, remove(meter), { id: String(++id), params })).code, 460);
    }
    // Not Alink JSON at all: 460 with a null id.
    const garbage = await alinkCall(client, update(meter), 'not json');
    assert.deepEqual([garbage.code, garbage.id], [460, null]);
    assert.equal((await alinkCall(client, update(meter), { params: [tag('noid', '1')] })).code, 460);
    assert.deepEqual(await tagsOf(meter), before);
  });

  it('takes 200 tags in one message, keys of every allowed character and 128 Chinese characters', async () => {
    const many = Array.from({ length: 200 }, (_, i) => tag(`t${i}`, String(i)));
    assert.equal((await alinkCall(client, update(meter), { id: '300', params: many })).code, 200);
    const odd = ['a_-#@%&*.', '9lives', 'x'.repeat(30)];
    const params = [...odd.map((k) => tag(k, '')), tag('cn', '温'.repeat(128))];
    assert.equal((await alinkCall(client, update(meter), { id: '301', params })).code, 200);
    const tags = (await tagsOf(meter)) as Record<string, string>;
    assert.equal(tags.t199, '199');
    assert.equal(tags.cn, '温'.repeat(128));
    for (const key of odd) assert.equal(tags[key], '', key);
  });

  it("stores a sub-device's tags sent through its gateway with the sub-device's pk/dn", async () => {
    const gateway = await connectSigned(emu, gw);
    open.push(gateway);
    await bindAndLogin(gateway, gw, sub);
    const reply = await alinkCall(gateway, update(sub), { id: '1', params: [tag('via', 'gateway')] });
    assert.deepEqual([reply.id, reply.code], ['1', 200]);
    assert.deepEqual(await tagsOf(sub), { via: 'gateway' });
    assert.deepEqual(await tagsOf(gw), {});
  });
});

describe('emulator: device tags across restarts (dataDir)', () => {
  it('keeps the tags in state.json', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-tags-state-'));
    const first = await start({ dataDir, log: () => undefined, devices: [meter] });
    try {
      const client = await connectSigned(first, meter);
      assert.equal((await alinkCall(client, update(meter), { id: '1', params: [tag('room', '201')] })).code, 200);
      await client.endAsync();
    } finally {
      await first.close();
    }
    const second = await start({ dataDir, log: () => undefined, devices: [meter] });
    try {
      assert.deepEqual((await https(second, 'GET', apiOf(meter))).body.tags, { room: '201' });
    } finally {
      await second.close();
    }
  });
});
