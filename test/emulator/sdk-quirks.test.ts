// What the official SDKs send and expect, written from the platform's rules (PLATFORM.md §10):
// packets handled in the order a connection sent them whatever the session kind, `_ss=1`
// connections that never subscribe, delivery at the publisher's QoS, reply envelopes every SDK
// parses, and signatures in any hex case and sign-method spelling. Plain mqtt.js and node:crypto.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectRaw, eventually, https, nextMessage, start } from '../helpers/emulator';

const secret = 'quirk-secret';
let serial = 0;
/** A device that has never connected: every test gets its own, so no session is left from before. */
const fresh = () => ({ productKey: 'pkQuirk', deviceName: `quirk-${++serial}`, deviceSecret: secret });
const DEVICES = Array.from({ length: 40 }, (_, i) => ({
  productKey: 'pkQuirk',
  deviceName: `quirk-${i + 1}`,
  deviceSecret: secret,
}));

/**
 * The MQTT login as the C Link SDK 4.x builds it: the fixed timestamp 2524608000000 (the same for
 * every login, so never fresh), `hmacSha256`, UPPERCASE hex. Variants: other spellings and lowercase.
 */
function linkSdkLogin(
  device: { productKey: string; deviceName: string },
  { ext = '', upper = true, method = 'hmacSha256' }: { ext?: string; upper?: boolean; method?: string } = {},
) {
  const clientId = `${device.productKey}.${device.deviceName}`;
  const timestamp = '2524608000000';
  const content = `clientId${clientId}deviceName${device.deviceName}productKey${device.productKey}timestamp${timestamp}`;
  const hex = createHmac('sha256', secret).update(content).digest('hex');
  return {
    clientId: `${clientId}|timestamp=${timestamp},securemode=3,signmethod=${method}${ext}|`,
    username: `${device.deviceName}&${device.productKey}`,
    password: upper ? hex.toUpperCase() : hex,
  };
}

function connect(device: { productKey: string; deviceName: string }, ext = '', extra: IClientOptions = {}) {
  return connectRaw(emu, 'tcp', { ...linkSdkLogin(device, { ext }), ...extra });
}

/** Writes whatever `send` writes as one TCP segment, so the broker reads it all at once. */
function inOneGo(client: MqttClient, send: () => void): void {
  client.stream.cork();
  send();
  process.nextTick(() => client.stream.uncork());
}

/** The JSON body of a delivered message. */
const bodyOf = async (message: Promise<{ payload: Buffer }>) =>
  JSON.parse((await message).payload.toString()) as Record<string, unknown>;

const postBody = (id: unknown) =>
  JSON.stringify({ id, version: '1.0', params: { Power: 1 }, method: 'thing.event.property.post' });

let emu: Emulator;

describe('emulator: what real SDKs send and expect', () => {
  const clients: MqttClient[] = [];
  before(async () => {
    emu = await start({
      devices: [...DEVICES, { productKey: 'pkQuirkReg', deviceName: 'unregistered' }],
      products: [{ productKey: 'pkQuirkReg', productSecret: 'quirk-product-secret' }],
    });
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await emu.close();
  });
  const keep = (c: MqttClient) => (clients.push(c), c);

  for (const clean of [false, true]) {
    it(`a post right behind its reply SUBSCRIBE is answered on that subscription (clean ${clean}, first login)`, async () => {
      const device = fresh();
      const client = keep(await connect(device, '', { clean }));
      const sys = `/sys/${device.productKey}/${device.deviceName}`;
      const reply = nextMessage(client, `${sys}/thing/event/property/post_reply`);
      inOneGo(client, () => {
        client.subscribe(`${sys}/thing/event/property/post_reply`, { qos: 0 });
        client.publish(`${sys}/thing/event/property/post`, postBody('1'), { qos: 1 });
      });
      assert.equal((await bodyOf(reply)).id, '1');
    });
  }

  it("the Node SDK's start: 16 SUBSCRIBEs and a post in the same breath, persistent session", async () => {
    const device = fresh();
    const client = keep(await connect(device, '', { clean: false }));
    const sys = `/sys/${device.productKey}/${device.deviceName}`;
    const reply = nextMessage(client, `${sys}/thing/event/property/post_reply`);
    inOneGo(client, () => {
      for (let i = 0; i < 15; i++) client.subscribe(`/${device.productKey}/${device.deviceName}/user/t${i}`);
      client.subscribe(`${sys}/thing/event/property/post_reply`);
      client.publish(`${sys}/thing/event/property/post`, postBody('2'), { qos: 0 });
    });
    assert.equal((await bodyOf(reply)).id, '2');
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    assert.equal(record.subscriptions.size, 16);
  });

  it('_ss=1: replies and downlinks on system topics arrive without any SUBSCRIBE', async () => {
    const device = fresh();
    const client = keep(await connect(device, ',_ss=1,ext=3'));
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    assert.equal(record.serverSubscribed, true);
    const sys = `/sys/${device.productKey}/${device.deviceName}`;
    const reply = nextMessage(client, `${sys}/thing/event/property/post_reply`);
    client.publish(`${sys}/thing/event/property/post`, postBody('3'));
    assert.equal((await bodyOf(reply)).code, 200);
    const ntp = nextMessage(client, `/ext/ntp/${device.productKey}/${device.deviceName}/response`);
    client.publish(`/ext/ntp/${device.productKey}/${device.deviceName}/request`, '{"deviceSendTime":"5"}');
    assert.equal((await bodyOf(ntp)).deviceSendTime, '5');
    for (const topic of [
      `${sys}/thing/service/property/set`,
      `/shadow/get/${device.productKey}/${device.deviceName}`,
      `/ota/device/upgrade/${device.productKey}/${device.deviceName}`,
    ]) {
      const down = nextMessage(client, topic);
      await emu.platform.publishDown(topic, '{"x":1}', 1);
      assert.equal((await down).qos, 1, topic);
    }
    assert.equal(record.subscriptions.size, 0);
  });

  it('_ss=1: a topic the device did subscribe arrives once, and custom topics still need a SUBSCRIBE', async () => {
    const device = fresh();
    const client = keep(await connect(device, ',_ss=1'));
    const sys = `/sys/${device.productKey}/${device.deviceName}`;
    await client.subscribeAsync(`${sys}/thing/service/+`);
    const got: string[] = [];
    client.on('message', (topic) => got.push(topic));
    await emu.platform.publishDown(`/${device.productKey}/${device.deviceName}/user/get`, 'x', 0);
    await emu.platform.publishDown(`${sys}/thing/service/Reboot`, '{}', 0);
    await eventually(() => got.length >= 1, 3000, 'the service call');
    // A marker after both: anything delivered twice or wrongly would have arrived before it.
    await emu.platform.publishDown(`${sys}/thing/service/marker`, '{}', 0);
    await eventually(() => got.includes(`${sys}/thing/service/marker`), 3000, 'the marker');
    assert.deepEqual(got, [`${sys}/thing/service/Reboot`, `${sys}/thing/service/marker`]);
  });

  it('without _ss nothing arrives on a system topic the device did not subscribe', async () => {
    const device = fresh();
    const client = keep(await connect(device));
    const got: string[] = [];
    client.on('message', (topic) => got.push(topic));
    const sys = `/sys/${device.productKey}/${device.deviceName}`;
    await client.subscribeAsync(`${sys}/thing/service/marker`);
    await emu.platform.publishDown(`${sys}/thing/service/property/set`, '{}', 0);
    await emu.platform.publishDown(`${sys}/thing/service/marker`, '{}', 0);
    await eventually(() => got.length >= 1, 3000, 'the marker');
    assert.deepEqual(got, [`${sys}/thing/service/marker`]);
  });

  for (const clean of [true, false]) {
    it(`delivers with the publisher's QoS whatever the subscription's, and grants what was asked (clean ${clean})`, async () => {
      const device = fresh();
      const client = keep(await connect(device, '', { clean }));
      const topic = `/${device.productKey}/${device.deviceName}/user/get`;
      const granted = await client.subscribeAsync(topic, { qos: 0 });
      assert.equal(granted[0]?.qos, 0);
      const one = nextMessage(client, topic);
      await emu.platform.publishDown(topic, 'q1', 1);
      assert.equal((await one).qos, 1);
      const zero = nextMessage(client, topic);
      await emu.platform.publishDown(topic, 'q0', 0);
      assert.equal((await zero).qos, 0);
      assert.equal(client.connected, true);
      if (clean) return;
      // A persistent session keeps the subscription at the QoS it delivers with: messages published
      // while the device is away wait for it, and the restored subscription delivers as before.
      await client.endAsync();
      await eventually(() => !emu.registry.device(device.productKey, device.deviceName)!.online, 3000, 'offline');
      await emu.platform.publishDown(topic, 'while-away', 1);
      const back = keep(await connect(device, '', { clean: false }));
      const queued = nextMessage(back, topic);
      assert.equal((await queued).payload.toString(), 'while-away');
      const again = nextMessage(back, topic);
      await emu.platform.publishDown(topic, 'q1-again', 1);
      assert.equal((await again).qos, 1);
    });
  }

  it('replies echo the id verbatim with its JSON type and always carry id, code, data and message', async () => {
    const device = fresh();
    const client = keep(await connect(device));
    const sys = `/sys/${device.productKey}/${device.deviceName}`;
    await client.subscribeAsync(`${sys}/thing/event/+/post_reply`);
    const ask = async (body: string, event = 'property') => {
      const reply = nextMessage(client, `${sys}/thing/event/${event}/post_reply`);
      client.publish(`${sys}/thing/event/${event}/post`, body, { qos: 1 });
      return JSON.parse((await reply).payload.toString()) as Record<string, unknown>;
    };
    const nodeSdkId = `5|exp-topic|${sys}/thing/event/property/post_reply`;
    for (const id of ['123', 123, nodeSdkId]) {
      const reply = await ask(postBody(id));
      assert.deepEqual(reply.id, id);
      assert.deepEqual(Object.keys(reply).sort(), ['code', 'data', 'id', 'message', 'version']);
    }
    // No method at all: the platform dispatches on the topic.
    assert.equal((await ask(JSON.stringify({ id: '9', params: { a: 1 } }), 'Alarm')).code, 200);
    const refused = await ask('not json');
    assert.deepEqual([refused.id, refused.code, refused.data, typeof refused.message], [null, 460, {}, 'string']);
  });

  it('signatures: hex in either case, the sign method in any spelling, the same old timestamp every time', async () => {
    for (const variant of [
      { upper: true, method: 'hmacSha256' },
      { upper: false, method: 'hmacsha256' },
      { upper: true, method: 'HMACSHA256' },
      { upper: false, method: 'HmacSha256' },
    ]) {
      const device = fresh();
      const client = keep(await connectRaw(emu, 'tcp', linkSdkLogin(device, variant)));
      assert.equal(client.connected, true, JSON.stringify(variant));
      // The same login again later: the timestamp is not a nonce.
      client.end(true);
      keep(await connectRaw(emu, 'tcp', linkSdkLogin(device, variant)));
    }
    const device = fresh();
    const login = linkSdkLogin(device);
    const tampered = { ...login, password: login.password.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) };
    await assert.rejects(connectRaw(emu, 'tcp', tampered), (err: { code?: number }) => err.code === 4);
  });

  it('HTTPS auth and registration take any sign-method spelling and hex case', async () => {
    const device = fresh();
    const fields = { productKey: device.productKey, deviceName: device.deviceName, clientId: 'c1', timestamp: '42' };
    const content = Object.entries(fields)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => k + v)
      .join('');
    const sign = createHmac('sha1', secret).update(content).digest('hex').toUpperCase();
    for (const key of ['signmethod', 'signMethod']) {
      const form = new URLSearchParams({ ...fields, [key]: 'HmacSHA1', sign }).toString();
      const answer = await https(emu, 'POST', '/auth/devicename', form);
      assert.equal(answer.body.code, 200, key);
    }
    const reg = { productKey: 'pkQuirkReg', deviceName: 'unregistered', random: 'r1' };
    const regSign = createHmac('sha256', 'quirk-product-secret')
      .update(`deviceName${reg.deviceName}productKey${reg.productKey}random${reg.random}`)
      .digest('hex')
      .toUpperCase();
    for (const key of ['signMethod', 'signmethod']) {
      const form = new URLSearchParams({ ...reg, [key]: 'hmacSha256', sign: regSign }).toString();
      const answer = await https(emu, 'POST', '/auth/register/device', form);
      assert.equal(answer.body.code, 200, key);
    }
  });
});
