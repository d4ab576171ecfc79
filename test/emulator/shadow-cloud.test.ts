// The device shadow's cloud side (GetDeviceShadow / UpdateDeviceShadow and the `control` push),
// sub-devices through a gateway, the topics' directions and `_ss=1`, and shadows across restarts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { stateProblem } from '../../emulator/state-store';
import { alinkCall, connectSigned, https, nextMessage, sleep, start, subDeviceSign } from '../helpers/emulator';
import { ask, assertLinkSdk4Accepts, errorOf, getTopic, updateTopic, type ShadowMessage } from './shadow-fixture';

const lamp = { productKey: 'pkShadowC', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const sleeper = { productKey: 'pkShadowC', deviceName: 'sleeper', deviceSecret: 'sleeper-secret' };
const gw = { productKey: 'pkShadowGw', deviceName: 'gw', deviceSecret: 'gw-secret' };
const sub = { productKey: 'pkShadowSub', deviceName: 'sub', deviceSecret: 'sub-secret' };
const api = (d: { productKey: string; deviceName: string }) => `/api/devices/${d.productKey}/${d.deviceName}/shadow`;
const parse = (m: { payload: Buffer }) => JSON.parse(m.payload.toString()) as ShadowMessage;

describe('emulator: device shadow from the cloud', () => {
  let emu: Emulator;
  const open: MqttClient[] = [];
  const connect = async (d: typeof lamp, ext = '') => {
    const client = await connectSigned(emu, d, ext);
    open.push(client);
    return client;
  };
  before(async () => {
    emu = await start({
      rateLimit: 0,
      products: [{ productKey: 'pkShadowGw', nodeType: 'gateway' }],
      devices: [lamp, sleeper, gw, sub],
    });
  });
  after(async () => {
    for (const client of open) await client.endAsync(true);
    await emu.close();
  });

  it('writes desired and pushes control at once to the online device; GET shows the document', async () => {
    const client = await connect(lamp);
    await client.subscribeAsync(getTopic(lamp), { qos: 1 });
    await ask(client, lamp, { method: 'update', state: { reported: { color: 'red' } }, version: 3 });
    const control = nextMessage(client, getTopic(lamp));
    const answer = await https(emu, 'POST', api(lamp), { desired: { color: 'green' } });
    assert.deepEqual([answer.status, answer.body], [200, { code: 'SUCCESS', version: 4, online: true }]);
    const pushed = await control;
    assert.equal(pushed.qos, 1);
    const message = parse(pushed);
    assertLinkSdk4Accepts(message);
    assert.equal(message.method, 'control');
    assert.equal(message.version, 4);
    assert.equal(message.payload?.status, 'success');
    assert.deepEqual(message.payload.state, { reported: { color: 'red' }, desired: { color: 'green' } });
    assert.ok(Number.isInteger(message.payload.metadata?.desired?.color?.timestamp));
    const doc = (await https(emu, 'GET', api(lamp))).body;
    assert.deepEqual([doc.state, doc.version], [{ reported: { color: 'red' }, desired: { color: 'green' } }, 4]);
    assert.deepEqual(Object.keys(doc).sort(), ['metadata', 'state', 'timestamp', 'version']);
  });

  it('checks a stated version (409 when stale), merges by default and replaces with deltaUpdate false', async () => {
    const client = open[0] as MqttClient;
    const stale = await https(emu, 'POST', api(lamp), { desired: { color: 'blue' }, version: 4 });
    assert.deepEqual([stale.status, stale.body.code, stale.body.version], [409, 'VERSION_CONFLICT', 4]);
    let control = nextMessage(client, getTopic(lamp));
    assert.equal((await https(emu, 'POST', api(lamp), { desired: { level: 2 }, version: 10 })).body.version, 10);
    assert.deepEqual(parse(await control).payload?.state?.desired, { color: 'green', level: 2 });
    control = nextMessage(client, getTopic(lamp));
    const replaced = await https(emu, 'POST', api(lamp), { desired: { level: 3 }, version: 0, deltaUpdate: false });
    assert.equal(replaced.body.version, 11);
    assert.deepEqual(parse(await control).payload?.state?.desired, { level: 3 });
    for (const body of [{}, { desired: {} }, { desired: [1] }, { desired: { a: 1 }, version: 'x' }])
      assert.equal((await https(emu, 'POST', api(lamp), body)).status, 400, JSON.stringify(body));
    assert.equal((await https(emu, 'PUT', api(lamp), {})).status, 405);
    // The device applies desired, reports, then clears it (what the C SDK 3.x does after a control).
    await ask(client, lamp, { method: 'update', state: { reported: { level: 3 } }, version: 12 });
    await ask(client, lamp, { method: 'update', state: { desired: 'null' }, version: 13 });
    const doc = (await https(emu, 'GET', api(lamp))).body;
    assert.deepEqual([doc.state, doc.version], [{ reported: { color: 'red', level: 3 } }, 13]);
  });

  it('does not push to an offline device, nor at its reconnect: it finds desired with get', async () => {
    const written = await https(emu, 'POST', api(sleeper), { desired: { mode: 'eco' } });
    assert.deepEqual(written.body, { code: 'SUCCESS', version: 1, online: false });
    const client = await connect(sleeper);
    const seen: string[] = [];
    client.on('message', (topic) => seen.push(topic));
    await client.subscribeAsync(getTopic(sleeper), { qos: 1 });
    await sleep(300);
    assert.deepEqual(seen, []);
    const got = await ask(client, sleeper, { method: 'get' });
    assert.deepEqual([got.payload?.state, got.version], [{ desired: { mode: 'eco' } }, 1]);
  });

  it("carries a sub-device's shadow on the gateway's connection only while it is logged in", async () => {
    const gateway = await connect(gw);
    await gateway.subscribeAsync([getTopic(sub), `/ext/error/${gw.productKey}/${gw.deviceName}`], { qos: 0 });
    // Before the login: dropped, and the gateway hears 520.
    const refused = nextMessage(gateway, `/ext/error/${gw.productKey}/${gw.deviceName}`);
    await gateway.publishAsync(updateTopic(sub), '{"method":"get"}');
    assert.equal((JSON.parse((await refused).payload.toString()) as { code: number }).code, 520);
    const clientId = `${sub.productKey}.${sub.deviceName}`;
    const timestamp = String(Date.now());
    const entry = { ...sub, deviceSecret: undefined, clientId, timestamp, signmethod: 'hmacSha256' };
    const signed = { ...entry, sign: subDeviceSign('sha256', sub, clientId, timestamp) };
    assert.equal(
      (await alinkCall(gateway, `/sys/${gw.productKey}/gw/thing/topo/add`, { id: '1', params: [signed] })).code,
      200,
    );
    const login = `/ext/session/${gw.productKey}/gw/combine/login`;
    assert.equal(
      (await alinkCall(gateway, login, { id: '2', params: { ...signed, signMethod: 'hmacSha256' } })).code,
      200,
    );
    const reply = await ask(gateway, sub, { method: 'update', state: { reported: { temp: 21 } }, version: 1 });
    assert.deepEqual(reply.payload, { status: 'success', version: 1 });
    const control = nextMessage(gateway, getTopic(sub));
    assert.equal((await https(emu, 'POST', api(sub), { desired: { temp: 25 } })).body.online, true);
    assert.deepEqual(parse(await control).payload?.state, { reported: { temp: 21 }, desired: { temp: 25 } });
    assert.deepEqual(emu.shadows.shadows.document(gw).version, 0);
  });

  it('keeps each shadow topic one way, and answers a _ss=1 device that never subscribed', async () => {
    const client = await connect(sleeper);
    const seen: string[] = [];
    client.on('message', (topic) => seen.push(topic));
    const refused = await client.subscribeAsync(updateTopic(sleeper), { qos: 0 }).catch((err: unknown) => err);
    const granted =
      (refused as { packet?: { granted?: number[] } }).packet?.granted ??
      (refused as { qos: number }[]).map((g) => g.qos);
    assert.deepEqual(granted, [128]);
    await client.subscribeAsync(`/shadow/+/${sleeper.productKey}/${sleeper.deviceName}`, { qos: 0 });
    await client.publishAsync(getTopic(sleeper), '{"method":"reply","payload":{"status":"success"}}', { qos: 1 });
    const reply = await ask(client, sleeper, { method: 'get' });
    assert.equal(errorOf(reply), undefined);
    // Only the platform's answer arrived: neither the forged reply nor the request came back.
    assert.deepEqual(seen, [getTopic(sleeper)]);
    assert.ok(
      (emu.registry.device(sleeper.productKey, sleeper.deviceName)?.counters.drops['forbidden-topic'] ?? 0) >= 1,
    );
    const ss = await connect(lamp, ',_ss=1');
    const got = await ask(ss, lamp, { method: 'get' });
    assert.equal(got.version, 13);
  });
});

describe('emulator: device shadows across restarts (dataDir)', () => {
  it('keeps reported, desired, metadata and the version in state.json', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-shadow-state-'));
    const first = await start({ dataDir, log: () => undefined, devices: [lamp] });
    let stamp: number | undefined;
    try {
      const client = await connectSigned(first, lamp);
      await client.subscribeAsync(getTopic(lamp), { qos: 1 });
      await ask(client, lamp, { method: 'update', state: { reported: { color: 'red' } }, version: 7 });
      await https(first, 'POST', api(lamp), { desired: { color: 'blue' } });
      stamp = first.shadows.shadows.document(lamp).metadata.reported.color?.timestamp;
      await client.endAsync();
    } finally {
      await first.close();
    }
    const state = JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as { shadows?: unknown[] };
    assert.equal(stateProblem(state), undefined);
    assert.equal(state.shadows?.length, 1);
    const second = await start({ dataDir, log: () => undefined });
    try {
      const client = await connectSigned(second, lamp);
      await client.subscribeAsync(getTopic(lamp), { qos: 1 });
      const got = await ask(client, lamp, { method: 'get' });
      assert.deepEqual(got.payload?.state, { reported: { color: 'red' }, desired: { color: 'blue' } });
      assert.equal(got.version, 8);
      assert.equal(got.payload.metadata?.reported?.color?.timestamp, stamp);
      await client.endAsync();
    } finally {
      await second.close();
    }
    const bad = { version: 1, devices: [], products: [], tokens: [], shadows: [{ productKey: 'p', deviceName: 'd' }] };
    assert.match(stateProblem(bad) ?? '', /shadows\[0\]/);
  });
});
