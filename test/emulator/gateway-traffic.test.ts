// Sub-device traffic through a gateway's connection (PLATFORM.md §11), kicks, sub-device
// registration and the cloud side of topology, from plain mqtt.js clients.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { alinkCall, connectSigned, eventually, https, nextMessage, start, subDeviceSign } from '../helpers/emulator';

const gw1 = { productKey: 'pkGw', deviceName: 'gw1', deviceSecret: 'gw1-secret' };
const gw2 = { productKey: 'pkGw', deviceName: 'gw2', deviceSecret: 'gw2-secret' };
const s1 = { productKey: 'pkSub', deviceName: 's1', deviceSecret: 's1-secret' };
const s2 = { productKey: 'pkSub', deviceName: 's2', deviceSecret: 's2-secret' };
const s3 = { productKey: 'pkSub', deviceName: 's3', deviceSecret: 's3-secret' };
type Device = { productKey: string; deviceName: string };
type Sub = typeof s1;
const name = (d: Device) => ({ productKey: d.productKey, deviceName: d.deviceName });
const sys = (d: Device) => `/sys/${d.productKey}/${d.deviceName}`;
const extError = (g: Device) => `/ext/error/${g.productKey}/${g.deviceName}`;

function entry(d: Sub) {
  const clientId = `${d.productKey}.${d.deviceName}`;
  const timestamp = String(Date.now());
  return {
    ...name(d),
    clientId,
    timestamp,
    signmethod: 'hmacSha256',
    sign: subDeviceSign('sha256', d, clientId, timestamp),
  };
}

async function bindAndLogin(client: MqttClient, gateway: Device, d: Sub): Promise<void> {
  assert.equal((await alinkCall(client, `${sys(gateway)}/thing/topo/add`, { id: '1', params: [entry(d)] })).code, 200);
  const login = `/ext/session/${gateway.productKey}/${gateway.deviceName}/combine/login`;
  assert.equal(
    (await alinkCall(client, login, { id: '2', params: { ...entry(d), signMethod: 'hmacSha256' } })).code,
    200,
  );
}

const json = (m: { payload: Buffer }) => JSON.parse(m.payload.toString()) as Record<string, unknown>;

describe('emulator: sub-device traffic through a gateway', () => {
  let emu: Emulator;
  const open: MqttClient[] = [];
  const connect = async (d: Sub | typeof gw1, ext = '') => {
    const client = await connectSigned(emu, d, ext);
    open.push(client);
    return client;
  };

  before(async () => {
    emu = await start({
      // The platform's 30 messages a second per device would drop some of this quick walk's requests.
      rateLimit: 0,
      products: [
        { productKey: 'pkGw', nodeType: 'gateway' },
        { productKey: 'pkReg', productSecret: 'reg-secret' },
      ],
      devices: [
        gw1,
        gw2,
        s1,
        s2,
        s3,
        { productKey: 'pkReg', deviceName: 'r1' },
        { productKey: 'pkReg', deviceName: 'r2' },
      ],
    });
  });
  after(async () => {
    for (const client of open) await client.endAsync(true);
    await emu.close();
  });

  it("carries a logged-in sub-device's posts and downlinks, shown online via the gateway", async () => {
    const gw = await connect(gw1);
    await bindAndLogin(gw, gw1, s1);
    const post = await alinkCall(gw, `${sys(s1)}/thing/event/property/post`, { id: '5', params: { Temp: 20 } });
    assert.deepEqual([post.id, post.code], ['5', 200]);
    assert.deepEqual(emu.registry.device('pkSub', 's1')?.properties, { Temp: 20 });
    await gw.subscribeAsync(`${sys(s1)}/thing/service/property/set`, { qos: 1 });
    const set = nextMessage(gw, `${sys(s1)}/thing/service/property/set`);
    const api = await https(emu, 'POST', '/api/devices/pkSub/s1/properties', { params: { Power: 1 } });
    assert.equal(api.status, 200);
    assert.deepEqual((json(await set) as { params: unknown }).params, { Power: 1 });
    // RRPC to the sub-device: the gateway answers on the sub-device's response topic.
    await gw.subscribeAsync(`${sys(s1)}/rrpc/request/+`, { qos: 0 });
    gw.once('message', (topic) => {
      void gw.publishAsync(topic.replace('/request/', '/response/'), 'pong');
    });
    const rrpc = await https(emu, 'POST', '/api/devices/pkSub/s1/rrpc', { payload: 'ping', timeoutMs: 5000 });
    assert.deepEqual([rrpc.body.code, rrpc.body.reply], ['SUCCESS', 'pong']);
    const listed = (await https(emu, 'GET', '/api/devices')).body as unknown as Record<string, unknown>[];
    const shown = listed.find((d) => d.deviceName === 's1');
    assert.deepEqual([shown?.online, shown?.via], [true, 'pkGw&gw1']);
  });

  it('drops the traffic of a sub-device not logged in and tells the gateway 520', async () => {
    const gw = open[0] as MqttClient;
    await gw.subscribeAsync(extError(gw1), { qos: 0 });
    const error = nextMessage(gw, extError(gw1));
    await gw.publishAsync(`${sys(s2)}/thing/event/property/post`, JSON.stringify({ id: '77', params: { Temp: 1 } }));
    assert.deepEqual(json(await error), {
      id: '77',
      code: 520,
      data: name(s2),
      message: 'sub-device session does not exist',
    });
    const s2Record = emu.registry.device('pkSub', 's2');
    assert.deepEqual([s2Record?.uplink.length, s2Record?.properties], [0, {}]);
  });

  it("keeps a SUBSCRIBE to a sub-device's topic made before its login, delivering only once logged in", async () => {
    const gw = open[0] as MqttClient;
    await gw.subscribeAsync(['/pkSub/s2/user/get', '/pkSub/s1/user/get'], { qos: 0 });
    const seen: string[] = [];
    gw.on('message', (topic) => seen.push(topic));
    const down = (d: Device) =>
      https(emu, 'POST', `/api/devices/pkSub/${d.deviceName}/publish`, {
        topic: `/pkSub/${d.deviceName}/user/get`,
        payload: 'x',
      });
    // One connection delivers in order: s1's message arriving alone means s2's was not sent.
    await down(s2);
    await down(s1);
    await eventually(() => seen.includes('/pkSub/s1/user/get'), 5000, "s1's downlink");
    assert.ok(!seen.includes('/pkSub/s2/user/get'));
    await bindAndLogin(gw, gw1, s2);
    await down(s2);
    await eventually(() => seen.includes('/pkSub/s2/user/get'), 5000, "s2's downlink after login");
  });

  it('logs the sub-devices out when the gateway disconnects', async () => {
    const gw = open.shift() as MqttClient;
    await gw.endAsync();
    await eventually(() => emu.registry.device('pkSub', 's1')?.online === false, 5000, 's1 offline');
    assert.equal(emu.registry.device('pkSub', 's1')?.via, undefined);
  });

  it('kicks an older session: a direct login, then a login through another gateway, get 427', async () => {
    const gw = await connect(gw1, ',_ss=1');
    await bindAndLogin(gw, gw1, s1);
    // `_ss=1`: the reply arrives without a SUBSCRIBE to it.
    const ntp = nextMessage(gw, `/ext/ntp/pkSub/s1/response`);
    await gw.publishAsync(`/ext/ntp/pkSub/s1/request`, JSON.stringify({ deviceSendTime: '1' }));
    assert.equal(json(await ntp).deviceSendTime, '1');
    const kicked = nextMessage(gw, extError(gw1));
    const direct = await connect(s1);
    const notice = json(await kicked);
    assert.deepEqual([notice.code, notice.data], [427, name(s1)]);
    assert.equal(emu.registry.device('pkSub', 's1')?.via, undefined);
    // Logged in through gw1 again: the direct connection ends.
    const login = `/ext/session/pkGw/gw1/combine/login`;
    assert.equal((await alinkCall(gw, login, { id: '3', params: entry(s1) })).code, 200);
    await eventually(() => !direct.connected, 5000, 'direct session closed');
    // The cloud moves s1 to gw2; its session through gw1 stays until it logs in through gw2.
    const other = await connect(gw2);
    const moved = await https(emu, 'POST', '/api/devices/pkGw/gw2/topology/add', {
      subDevices: [name(s1)],
      move: true,
    });
    assert.equal(moved.status, 200);
    const second = nextMessage(gw, extError(gw1));
    const reply = await alinkCall(other, `/ext/session/pkGw/gw2/combine/login`, { id: '4', params: entry(s1) });
    assert.equal(reply.code, 200);
    assert.equal(json(await second).code, 427);
    assert.equal(emu.registry.device('pkSub', 's1')?.via, 'pkGw&gw2');
  });

  it('registers a pre-registered sub-device once; its secret then signs a login', async () => {
    const gw = open[open.length - 1] as MqttClient;
    const register = (params: unknown) => alinkCall(gw, `${sys(gw2)}/thing/sub/register`, { id: '8', params });
    const first = await register([{ productKey: 'pkReg', deviceName: 'r1' }]);
    assert.equal(first.code, 200);
    const [issued] = first.data as { iotId: string; productKey: string; deviceName: string; deviceSecret: string }[];
    assert.deepEqual(issued && name(issued), { productKey: 'pkReg', deviceName: 'r1' });
    assert.match(issued?.deviceSecret ?? '', /^[0-9a-f]{32}$/);
    assert.equal((await register([{ productKey: 'pkReg', deviceName: 'r1' }])).code, 6289);
    assert.equal((await register([name(s2)])).code, 6288);
    assert.equal((await register([{ productKey: 'pkReg', deviceName: 'nobody' }])).code, 6100);
    const bind = await https(emu, 'POST', '/api/devices/pkGw/gw1/topology/add', {
      subDevices: [{ productKey: 'pkReg', deviceName: 'r2' }],
    });
    assert.equal(bind.status, 200);
    assert.equal((await register([{ productKey: 'pkReg', deviceName: 'r2' }])).code, 6619);
    const r1 = { productKey: 'pkReg', deviceName: 'r1', deviceSecret: issued?.deviceSecret ?? '' };
    await bindAndLogin(gw, gw2, r1);
    assert.equal(emu.registry.device('pkReg', 'r1')?.via, 'pkGw&gw2');
    const found = await alinkCall(gw, `${sys(gw2)}/thing/list/found`, { id: '9', params: [name(s3)] });
    assert.equal(found.code, 200);
    assert.deepEqual((await https(emu, 'GET', '/api/devices/pkGw/gw2/found')).body, [name(s3)]);
  });

  it('announces cloud-side topology changes and disable/enable with thing/topo/change', async () => {
    const gw = open[open.length - 1] as MqttClient;
    const change = `${sys(gw2)}/thing/topo/change`;
    await gw.subscribeAsync(change, { qos: 0 });
    const params = async (action: () => Promise<unknown>) => {
      const next = nextMessage(gw, change);
      await action();
      return (json(await next) as { params: unknown }).params;
    };
    const add = () => https(emu, 'POST', '/api/devices/pkGw/gw2/topology/add', { subDevices: [name(s3)] });
    assert.deepEqual(await params(add), { status: 0, subList: [name(s3)] });
    const topology = (await https(emu, 'GET', '/api/devices/pkGw/gw2/topology')).body as unknown as Device[];
    assert.deepEqual(new Set(topology.map((d) => d.deviceName)), new Set(['s1', 'r1', 's3']));
    // Disabling s1, online through gw2: status 8, then 522 and logged out; refused at login with 522.
    await gw.subscribeAsync(extError(gw2), { qos: 0 });
    const error = nextMessage(gw, extError(gw2));
    assert.deepEqual(await params(() => https(emu, 'POST', '/api/devices/pkSub/s1/disable')), {
      status: 8,
      subList: [name(s1)],
    });
    assert.equal(json(await error).code, 522);
    assert.equal(emu.registry.device('pkSub', 's1')?.online, false);
    const login = `/ext/session/pkGw/gw2/combine/login`;
    assert.equal((await alinkCall(gw, login, { id: '5', params: entry(s1) })).code, 522);
    assert.deepEqual(await params(() => https(emu, 'POST', '/api/devices/pkSub/s1/enable')), {
      status: 2,
      subList: [name(s1)],
    });
    assert.equal((await alinkCall(gw, login, { id: '6', params: entry(s1) })).code, 200);
    const del = () => https(emu, 'POST', '/api/devices/pkGw/gw2/topology/delete', { subDevices: [name(s3)] });
    assert.deepEqual(await params(del), { status: 1, subList: [name(s3)] });
    assert.equal((await https(emu, 'GET', '/api/devices/pkSub/s1/topology')).status, 409);
    // Deleting the topology of a sub-device online through the gateway logs it out with 6401.
    const removed = nextMessage(gw, extError(gw2));
    assert.equal((await alinkCall(gw, `${sys(gw2)}/thing/topo/delete`, { id: '9', params: [name(s1)] })).code, 200);
    assert.deepEqual([json(await removed).code, emu.registry.device('pkSub', 's1')?.online], [6401, false]);
    assert.ok(emu.stats().gateways.logins >= 5);
  });
});
