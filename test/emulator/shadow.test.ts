// The device shadow from a plain mqtt.js device (PLATFORM.md §13): get, update, delete, the
// version rules, clientToken, every error code, and the shapes the Link SDK 4.x parser requires.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectSigned, nextMessage, start } from '../helpers/emulator';
import { ask, errorOf, getTopic, nowSeconds, updateTopic } from './shadow-fixture';

const lamp = { productKey: 'pkShadow', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const fresh = { productKey: 'pkShadow', deviceName: 'fresh', deviceSecret: 'fresh-secret' };

describe('emulator: device shadow over MQTT', () => {
  let emu: Emulator;
  let client: MqttClient;
  let other: MqttClient;
  /** The shadow's current version, as the last get reply said. */
  const versionNow = async () => (await ask(client, lamp, { method: 'get' })).version as number;
  before(async () => {
    emu = await start({ rateLimit: 0, devices: [lamp, fresh] });
    client = await connectSigned(emu, lamp);
    other = await connectSigned(emu, fresh);
    await client.subscribeAsync(getTopic(lamp), { qos: 1 });
    await other.subscribeAsync(getTopic(fresh), { qos: 1 });
  });
  after(async () => {
    await client.endAsync();
    await other.endAsync();
    await emu.close();
  });

  it('answers a get on a shadow never written with 407, echoing the clientToken', async () => {
    const reply = await ask(other, fresh, { method: 'get', clientToken: 'pkShadow.fresh-1' });
    assert.equal(errorOf(reply), '407');
    assert.equal(reply.clientToken, 'pkShadow.fresh-1');
    assert.equal(emu.shadows.shadows.document(fresh).version, 0);
  });

  it('stores an update of reported and takes its version; get shows state, metadata and a top-level version', async () => {
    const before = nowSeconds();
    const reply = await ask(client, lamp, {
      method: 'update',
      state: { reported: { color: 'red', on: 1 } },
      version: 1,
    });
    assert.deepEqual(Object.keys(reply).sort(), ['method', 'payload', 'timestamp']);
    assert.deepEqual(reply.payload, { status: 'success', version: 1 });
    const got = await ask(client, lamp, { method: 'get' });
    assert.equal(got.method, 'reply');
    assert.equal(got.version, 1);
    assert.equal(got.payload?.status, 'success');
    assert.deepEqual(got.payload.state, { reported: { color: 'red', on: 1 } });
    const stamp = got.payload.metadata?.reported?.color?.timestamp ?? 0;
    assert.ok(Number.isInteger(stamp) && stamp >= before && stamp <= nowSeconds(), 'metadata timestamp in seconds');
    assert.deepEqual(Object.keys(got.payload.metadata ?? {}), ['reported']);
  });

  it('merges keys into reported and replaces arrays whole', async () => {
    const update = (reported: object, version: number) =>
      ask(client, lamp, { method: 'update', state: { reported }, version });
    assert.equal(errorOf(await update({ list: [1, 2, 3], nested: { a: 1, b: 2 } }, 2)), undefined);
    assert.equal(errorOf(await update({ list: [9], nested: { c: 3 } }, 3)), undefined);
    const got = await ask(client, lamp, { method: 'get' });
    assert.deepEqual(got.payload?.state?.reported, { color: 'red', on: 1, list: [9], nested: { c: 3 } });
  });

  it('answers 403 to a version not greater than the current one; after a get the device recovers', async () => {
    const current = await versionNow();
    for (const version of [current, current - 1, String(current + 1), 1.5, undefined]) {
      const reply = await ask(client, lamp, { method: 'update', state: { reported: { color: 'blue' } }, version });
      assert.equal(errorOf(reply), '403', `version ${String(version)}`);
    }
    assert.equal((await ask(client, lamp, { method: 'get' })).payload?.state?.reported?.color, 'red');
    const next = (await versionNow()) + 1;
    const reply = await ask(client, lamp, { method: 'update', state: { reported: { color: 'blue' } }, version: next });
    assert.deepEqual(reply.payload, { status: 'success', version: next });
    // The Node.js SDK sends Date.now() as the version: a long, accepted and taken as it is.
    const big = Date.now();
    const node = await ask(client, lamp, { method: 'update', state: { reported: { color: 'green' } }, version: big });
    assert.equal(node.payload?.version, big);
  });

  it('version -1 clears the shadow and sets version 0, keeping what that request states', async () => {
    const reset = await ask(client, lamp, { method: 'update', state: { reported: { power: 'on' } }, version: -1 });
    assert.deepEqual(reset.payload, { status: 'success', version: 0 });
    const got = await ask(client, lamp, { method: 'get' });
    assert.deepEqual([got.version, got.payload?.state], [0, { reported: { power: 'on' } }]);
    assert.equal(
      errorOf(await ask(client, lamp, { method: 'update', state: { reported: { a: 1 } }, version: 1 })),
      undefined,
    );
  });

  it('clears desired with the string "null", and refuses JSON null with 405', async () => {
    // Desired written as the cloud writes it (tested with its push in shadow-cloud.test.ts).
    const written = emu.shadows.shadows.write(lamp, { desired: { merge: { color: 'white' } }, version: 2 });
    assert.ok(written.ok);
    assert.deepEqual((await ask(client, lamp, { method: 'get' })).payload?.state?.desired, { color: 'white' });
    const json = await ask(client, lamp, { method: 'update', state: { desired: null }, version: 3 });
    assert.equal(errorOf(json), '405');
    const cleared = await ask(client, lamp, { method: 'update', state: { desired: 'null' }, version: 3 });
    assert.deepEqual(cleared.payload, { status: 'success', version: 3 });
    const got = await ask(client, lamp, { method: 'get' });
    assert.equal(got.payload?.state?.desired, undefined);
    assert.equal(got.payload?.metadata?.desired, undefined);
  });

  it('deletes reported keys, then all of reported', async () => {
    await ask(client, lamp, { method: 'update', state: { reported: { a: 1, b: 2, c: 3 } }, version: 4 });
    const some = await ask(client, lamp, {
      method: 'delete',
      state: { reported: { a: 'null', b: 'null' } },
      version: 5,
    });
    assert.deepEqual(some.payload, { status: 'success', version: 5 });
    let got = await ask(client, lamp, { method: 'get' });
    assert.deepEqual(got.payload?.state?.reported, { power: 'on', c: 3 });
    assert.deepEqual(Object.keys(got.payload.metadata?.reported ?? {}).sort(), ['c', 'power']);
    const all = await ask(client, lamp, { method: 'delete', state: { reported: 'null' }, version: 6 });
    assert.deepEqual(all.payload, { status: 'success', version: 6 });
    got = await ask(client, lamp, { method: 'get' });
    // Emptied, not new: the get still succeeds and says the version a next update must exceed.
    assert.deepEqual([got.payload?.status, got.payload?.state, got.version], ['success', {}, 6]);
  });

  it('echoes the clientToken of the C SDK 3.x in success, get and error replies', async () => {
    const token = 'pkShadow.lamp-7';
    const update = { method: 'update', state: { reported: { t: 1 } }, clientToken: token, version: 7 };
    assert.equal((await ask(client, lamp, update, 1)).clientToken, token);
    assert.equal((await ask(client, lamp, { method: 'get', clientToken: token })).clientToken, token);
    assert.equal((await ask(client, lamp, { ...update, clientToken: 8 })).clientToken, 8);
  });

  it('answers each malformed request with its error code and changes nothing', async () => {
    const version = await versionNow();
    const v = version + 1;
    const cases: [string, object | string][] = [
      ['400', 'not json'],
      ['400', '[1,2]'],
      ['401', { state: { reported: { a: 1 } }, version: v }],
      ['402', { method: 'update', version: v }],
      ['402', { method: 'delete', state: 'x', version: v }],
      ['403', { method: 'update', state: { reported: { a: 1 } }, version: 0 }],
      ['404', { method: 'update', state: {}, version: v }],
      ['405', { method: 'update', state: { reported: {} }, version: v }],
      ['405', { method: 'delete', state: { reported: 5 }, version: v }],
      ['406', { method: 'patch', state: { reported: { a: 1 } }, version: v }],
      [
        '408',
        {
          method: 'update',
          state: { reported: Object.fromEntries([...Array(129).keys()].map((i) => [`k${i}`, i])) },
          version: v,
        },
      ],
    ];
    for (const [code, body] of cases) {
      assert.equal(errorOf(await ask(client, lamp, body)), code, JSON.stringify(body).slice(0, 60));
    }
    assert.equal(errorOf(await ask(other, fresh, { method: 'get' })), '407');
    assert.equal(await versionNow(), version);
    // 128 attributes are allowed.
    const have = Object.keys((await ask(client, lamp, { method: 'get' })).payload?.state?.reported ?? {}).length;
    const most = Object.fromEntries([...Array(128 - have).keys()].map((i) => [`k${i}`, i]));
    assert.equal(
      errorOf(await ask(client, lamp, { method: 'update', state: { reported: most }, version: v })),
      undefined,
    );
  });

  it('answers a QoS 1 request at QoS 1 and a QoS 0 one at QoS 0', async () => {
    for (const qos of [0, 1] as const) {
      const answer = nextMessage(client, getTopic(lamp));
      await client.publishAsync(updateTopic(lamp), '{"method":"get"}', { qos });
      assert.equal((await answer).qos, qos);
    }
  });
});
