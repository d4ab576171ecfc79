// Gateways (PLATFORM.md §11): topology add/get/delete and sub-device login/logout, from plain
// mqtt.js clients that sign as the official SDKs do (PLATFORM.md §11), with every documented error code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { alinkCall, connectSigned, start, subDeviceSign } from '../helpers/emulator';

const gw = { productKey: 'pkGw', deviceName: 'gw1', deviceSecret: 'gw1-secret' };
const gw2 = { productKey: 'pkGw', deviceName: 'gw2', deviceSecret: 'gw2-secret' };
const direct = { productKey: 'pkLamp', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const subs = Array.from({ length: 10 }, (_, i) => ({
  productKey: 'pkSub',
  deviceName: `s${i + 1}`,
  deviceSecret: `s${i + 1}-secret`,
}));
const sub = (n: number) => subs[n - 1] as (typeof subs)[number];
const name = (d: { productKey: string; deviceName: string }) => ({
  productKey: d.productKey,
  deviceName: d.deviceName,
});
const sys = (d: { productKey: string; deviceName: string }) => `/sys/${d.productKey}/${d.deviceName}`;
const session = `/ext/session/${gw.productKey}/${gw.deviceName}/combine`;

/** The Node SDK's entry: `signMethod:"hmacsha1"`, numeric timestamp, `pk&dn` clientId. */
function nodeEntry(d: (typeof subs)[number], extra: object = {}) {
  const clientId = `${d.productKey}&${d.deviceName}`;
  const timestamp = Date.now();
  return {
    ...name(d),
    clientId,
    timestamp,
    signMethod: 'hmacsha1',
    sign: subDeviceSign('sha1', d, clientId, timestamp),
    ...extra,
  };
}

/** The Link SDK 4.x batch entry: string timestamp, UPPERCASE HMAC-SHA256 hex, method given once above. */
function linkEntry(d: (typeof subs)[number]) {
  const clientId = `${d.productKey}.${d.deviceName}`;
  const timestamp = '1700000000000';
  const sign = subDeviceSign('sha256', d, clientId, timestamp).toUpperCase();
  return { ...name(d), clientId, timestamp, cleanSession: 'false', sign };
}

describe('emulator: gateway topology and sub-device sessions', () => {
  let emu: Emulator;
  let client: MqttClient;
  const topo = (what: string, params: unknown, id: unknown = '1') =>
    alinkCall(client, `${sys(gw)}/thing/topo/${what}`, { id, version: '1.0', params });
  const combine = (what: string, params: unknown) => alinkCall(client, `${session}/${what}`, { id: '7', params });

  before(async () => {
    emu = await start({
      products: [{ productKey: 'pkGw', nodeType: 'gateway' }],
      devices: [gw, gw2, direct, ...subs],
      gatewayLimits: { topology: 8, online: 4 },
      // The platform's 30 messages a second per device would drop this quick walk's requests.
      rateLimit: 0,
    });
    client = await connectSigned(emu, gw);
  });
  after(async () => {
    await client.endAsync();
    await emu.close();
  });

  it('adds topology signed as the Node, C and Link SDKs sign, and lists it (params {} or "{}")', async () => {
    // Node SDK: numeric timestamp, signMethod key, no method field.
    assert.deepEqual(await topo('add', [nodeEntry(sub(1))], 42), {
      id: 42,
      code: 200,
      data: [name(sub(1))],
      message: 'success',
    });
    // C SDK 3.x: uptime as the timestamp, `signmethod:"hmacSha1"`, `pk.dn` clientId, method given.
    const c = sub(2);
    const cId = `${c.productKey}.${c.deviceName}`;
    const cEntry = {
      ...name(c),
      clientId: cId,
      timestamp: '123456',
      signmethod: 'hmacSha1',
      sign: subDeviceSign('sha1', c, cId, '123456'),
    };
    const cReply = await alinkCall(client, `${sys(gw)}/thing/topo/add`, {
      id: '2',
      version: '1.0',
      params: [cEntry],
      method: 'thing.topo.add',
    });
    assert.equal(cReply.code, 200);
    // Link SDK 4.x: `signmethod:"hmacSha256"`, UPPERCASE hex.
    assert.equal((await topo('add', [{ ...linkEntry(sub(3)), signmethod: 'hmacSha256' }])).code, 200);
    const expected = [name(sub(1)), name(sub(2)), name(sub(3))];
    assert.deepEqual((await topo('get', '{}')).data, expected);
    assert.deepEqual((await topo('get', {})).data, expected);
  });

  it('refuses topo/add with 460, 6402, 6100, 401, 6619 and 6400, all or nothing', async () => {
    assert.equal((await topo('add', nodeEntry(sub(4)))).code, 460);
    assert.equal(
      (
        await topo(
          'add',
          Array.from({ length: 31 }, () => nodeEntry(sub(4))),
        )
      ).code,
      460,
    );
    assert.equal((await topo('add', [{ ...nodeEntry(sub(4)), ...name(gw) }])).code, 6402);
    assert.equal((await topo('add', [{ ...nodeEntry(sub(4)), deviceName: 'nobody' }])).code, 6100);
    const badSign = await topo('add', [nodeEntry(sub(4)), nodeEntry(sub(5), { sign: 'ab'.repeat(20) })]);
    assert.equal(badSign.code, 401);
    assert.deepEqual(badSign.data, [name(sub(5))]);
    // Bound to gw1 already: gw2 cannot take it.
    const other = await connectSigned(emu, gw2);
    try {
      const taken = await alinkCall(other, `${sys(gw2)}/thing/topo/add`, { id: '3', params: [nodeEntry(sub(1))] });
      assert.equal(taken.code, 6619);
    } finally {
      await other.endAsync();
    }
    // 3 bound + 6 new > 8.
    assert.equal(
      (
        await topo(
          'add',
          [4, 5, 6, 7, 8, 9].map((n) => nodeEntry(sub(n))),
        )
      ).code,
      6400,
    );
    assert.deepEqual((await topo('get', {})).data, [name(sub(1)), name(sub(2)), name(sub(3))]);
  });

  it('deletes topology, refusing 6100 and 6401', async () => {
    assert.equal((await topo('delete', [{ productKey: 'pkSub', deviceName: 'nobody' }])).code, 6100);
    assert.equal((await topo('delete', [name(sub(9))])).code, 6401);
    assert.deepEqual(await topo('delete', [name(sub(3))]), {
      id: '1',
      code: 200,
      data: [name(sub(3))],
      message: 'success',
    });
    assert.deepEqual((await topo('get', {})).data, [name(sub(1)), name(sub(2))]);
  });

  it('answers a direct device on the gateway topics with 6203', async () => {
    const lamp = await connectSigned(emu, direct);
    try {
      const reply = await alinkCall(lamp, `${sys(direct)}/thing/topo/add`, { id: '1', params: [nodeEntry(sub(9))] });
      assert.equal(reply.code, 6203);
    } finally {
      await lamp.endAsync();
    }
  });

  it('logs a sub-device in and out, refusing 6401, 6287 and 520', async () => {
    assert.deepEqual(await combine('login', nodeEntry(sub(1))), {
      id: '7',
      code: 200,
      data: name(sub(1)),
      message: 'success',
    });
    const record = emu.registry.device('pkSub', 's1');
    assert.equal(record?.online, true);
    assert.equal(record.via, 'pkGw&gw1');
    assert.equal((await combine('login', nodeEntry(sub(9)))).code, 6401);
    assert.equal((await combine('login', nodeEntry(sub(2), { sign: '00' }))).code, 6287);
    // The C SDK's login: its own clientId with ext pairs, uptime timestamp, `signMethod:"hmacSha1"`.
    const c = sub(2);
    const cId = `${c.productKey}.${c.deviceName}|_v=sdk-c-3.0.1|`;
    const cLogin = { ...name(c), clientId: cId, timestamp: '98765', signMethod: 'hmacSha1', cleanSession: 'true' };
    const cReply = await combine('login', { ...cLogin, sign: subDeviceSign('sha1', c, cId, '98765') });
    assert.deepEqual([cReply.code, cReply.data], [200, name(c)]);
    assert.equal((await combine('logout', name(sub(2)))).code, 200);
    assert.equal((await combine('logout', name(sub(2)))).code, 520);
    assert.deepEqual(await combine('logout', name(sub(1))), {
      id: '7',
      code: 200,
      data: name(sub(1)),
      message: 'success',
    });
    assert.equal(record.online, false);
  });

  it('batch login: Link SDK shape, 51 refused, all or nothing, 428 over the online limit', async () => {
    const batch = (list: object[]) => combine('batch_login', { signMethod: 'hmacSha256', deviceList: list });
    assert.equal((await batch(Array.from({ length: 51 }, () => linkEntry(sub(1))))).code, 460);
    const mixed = await batch([linkEntry(sub(2)), linkEntry(sub(9))]);
    assert.equal(mixed.code, 6401);
    assert.deepEqual(mixed.data, [name(sub(9))]);
    assert.equal(emu.registry.device('pkSub', 's2')?.online, false);
    assert.equal(
      (
        await topo(
          'add',
          [4, 5, 6].map((n) => nodeEntry(sub(n))),
        )
      ).code,
      200,
    );
    const good = await batch([1, 2, 4, 5].map((n) => linkEntry(sub(n))));
    assert.equal(good.code, 200);
    assert.deepEqual(
      good.data,
      [1, 2, 4, 5].map((n) => name(sub(n))),
    );
    // Four online, the limit: a fifth is refused; one already online logs in again freely.
    assert.equal((await batch([linkEntry(sub(6))])).code, 428);
    assert.equal((await batch([linkEntry(sub(1))])).code, 200);
    const out = await combine('batch_logout', [name(sub(4)), name(sub(6))]);
    assert.equal(out.code, 520);
    assert.equal(emu.registry.device('pkSub', 's4')?.online, true);
    const logout = await combine(
      'batch_logout',
      [1, 2, 4, 5].map((n) => name(sub(n))),
    );
    assert.equal(logout.code, 200);
    assert.deepEqual(
      logout.data,
      [1, 2, 4, 5].map((n) => name(sub(n))),
    );
    assert.equal(emu.gateways.onlineCount(emu.registry.device('pkGw', 'gw1') as never), 0);
  });
});

describe('emulator: gateway login rate', () => {
  it('answers 429 once a gateway asks for more logins per second than allowed', async () => {
    const emu = await start({
      products: [{ productKey: 'pkGw', nodeType: 'gateway' }],
      devices: [gw, ...subs.slice(0, 3)],
      gatewayLimits: { loginsPerSecond: 2 },
    });
    const client = await connectSigned(emu, gw);
    try {
      emu.gateways.bind(
        emu.registry.device('pkGw', 'gw1') as never,
        [1, 2, 3].map((n) => emu.registry.device('pkSub', `s${n}`) as never),
      );
      const reply = await alinkCall(client, `${session}/batch_login`, {
        id: '1',
        params: { signMethod: 'hmacSha256', deviceList: [1, 2, 3].map((n) => linkEntry(sub(n))) },
      });
      assert.equal(reply.code, 429);
      assert.equal(emu.registry.device('pkSub', 's1')?.online, false);
    } finally {
      await client.endAsync();
      await emu.close();
    }
  });
});
