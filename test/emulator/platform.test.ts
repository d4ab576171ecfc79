// The platform side: automatic replies and the cloud API, seen from a plain mqtt.js device.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectDevice, eventually, https, nextMessage, sleep, start } from '../helpers/emulator';

const device = { productKey: 'pkCloud', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const sys = `/sys/${device.productKey}/${device.deviceName}`;
const api = `/api/devices/${device.productKey}/${device.deviceName}`;

describe('emulator: platform replies and cloud API', () => {
  let emu: Emulator;
  let client: MqttClient;
  before(async () => {
    emu = await start({ devices: [device, { productKey: 'pkCloud', deviceName: 'idle', deviceSecret: 'x' }] });
    client = await connectDevice(emu, 'tls', device);
    await client.subscribeAsync(`${sys}/#`, { qos: 1 });
    await client.subscribeAsync(`/ext/ntp/${device.productKey}/${device.deviceName}/response`, { qos: 0 });
  });
  after(async () => {
    await client.endAsync();
    await emu.close();
  });

  async function post(topic: string, body: string): Promise<Record<string, unknown>> {
    const reply = nextMessage(client, `${topic}_reply`);
    await client.publishAsync(topic, body, { qos: 1 });
    return JSON.parse((await reply).payload.toString()) as Record<string, unknown>;
  }

  it('answers a property post with post_reply 200, echoing the id as sent, and keeps the values', async () => {
    const topic = `${sys}/thing/event/property/post`;
    const body = {
      id: '4294967295',
      version: '1.0',
      params: { Power: 'on', Temp: { value: 21.5, time: 1 } },
      method: 'thing.event.property.post',
    };
    assert.deepEqual(await post(topic, JSON.stringify(body)), {
      id: '4294967295',
      code: 200,
      data: {},
      message: 'success',
      version: '1.0',
    });
    // The official SDK's non-numeric ids are echoed too.
    assert.equal((await post(topic, JSON.stringify({ ...body, id: '1|exp-topic|x' }))).id, '1|exp-topic|x');
    const described = (await https(emu, 'GET', api)).body as { properties: Record<string, unknown> };
    assert.deepEqual(described.properties, { Power: 'on', Temp: 21.5 });
  });

  it('answers 460 to a body that is not Alink JSON', async () => {
    const topic = `${sys}/thing/event/property/post`;
    assert.equal((await post(topic, 'not json')).code, 460);
    assert.equal((await post(topic, JSON.stringify({ id: '7', params: 'x' }))).code, 460);
  });

  it('answers an event post, and stays silent when sys.ack is 0', async () => {
    const topic = `${sys}/thing/event/Alarm/post`;
    const reply = await post(
      topic,
      JSON.stringify({
        id: '9',
        version: '1.0',
        params: { value: { level: 2 }, time: Date.now() },
        method: 'thing.event.Alarm.post',
      }),
    );
    assert.equal(reply.code, 200);
    assert.equal(reply.id, '9');
    let replied = false;
    const onMessage = (t: string) => (replied ||= t === `${topic}_reply`);
    client.on('message', onMessage);
    await client.publishAsync(
      topic,
      JSON.stringify({ id: '10', version: '1.0', sys: { ack: 0 }, params: { value: {} } }),
      { qos: 1 },
    );
    await sleep(200);
    client.off('message', onMessage);
    assert.equal(replied, false);
  });

  it('answers NTP with serverRecvTime and serverSendTime', async () => {
    const response = nextMessage(client, `/ext/ntp/${device.productKey}/${device.deviceName}/response`);
    const sent = Date.now();
    await client.publishAsync(
      `/ext/ntp/${device.productKey}/${device.deviceName}/request`,
      JSON.stringify({ deviceSendTime: String(sent) }),
      { qos: 0 },
    );
    const body = JSON.parse((await response).payload.toString()) as Record<string, string>;
    assert.equal(body.deviceSendTime, String(sent));
    assert.ok(Number(body.serverRecvTime) >= sent && Number(body.serverSendTime) >= Number(body.serverRecvTime));
  });

  it('lists devices with online state, counters and no secret', async () => {
    const { status, body } = await https(emu, 'GET', '/api/devices');
    assert.equal(status, 200);
    const list = body as unknown as { deviceName: string; online: boolean; counters: { connects: number } }[];
    assert.deepEqual(
      list.map((d) => [d.deviceName, d.online]),
      [
        ['lamp', true],
        ['idle', false],
      ],
    );
    assert.equal(list[0]?.counters.connects, 1);
    assert.ok(!JSON.stringify(body).includes('lamp-secret'));
  });

  it('keeps recent uplink messages per device', async () => {
    await client.publishAsync(`/${device.productKey}/${device.deviceName}/user/update`, 'hello cloud', { qos: 1 });
    const { body } = await https(emu, 'GET', `${api}/messages`);
    const messages = body as unknown as { topic: string; payload: string }[];
    assert.equal(messages.at(-1)?.payload, 'hello cloud');
  });

  it('publishes a downlink message, refusing topics of other devices', async () => {
    await client.subscribeAsync(`/${device.productKey}/${device.deviceName}/user/get`, { qos: 1 });
    const got = nextMessage(client, `/${device.productKey}/${device.deviceName}/user/get`);
    const answer = await https(emu, 'POST', `${api}/publish`, {
      topic: `/${device.productKey}/${device.deviceName}/user/get`,
      payload: { on: true },
      qos: 1,
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse((await got).payload.toString()), { on: true });
    assert.equal(
      (await https(emu, 'POST', `${api}/publish`, { topic: '/pkCloud/idle/user/get', payload: 'x' })).status,
      400,
    );
    assert.equal(
      (await https(emu, 'POST', '/api/devices/pkCloud/ghost/publish', { topic: '/x', payload: 'x' })).status,
      404,
    );
  });

  it('sets properties and waits for the device reply', async () => {
    const request = nextMessage(client, `${sys}/thing/service/property/set`);
    const call = https(emu, 'POST', `${api}/properties`, { params: { Power: 'off' }, timeoutMs: 3000 });
    const received = JSON.parse((await request).payload.toString()) as { id: string; method: string; params: unknown };
    assert.equal(received.method, 'thing.service.property.set');
    assert.deepEqual(received.params, { Power: 'off' });
    assert.match(received.id, /^\d+$/);
    await client.publishAsync(
      `${sys}/thing/service/property/set_reply`,
      JSON.stringify({ id: received.id, code: 200, data: {} }),
      { qos: 0 },
    );
    const answer = (await call).body as { code: string; reply: { id: string; code: number } };
    assert.equal(answer.code, 'SUCCESS');
    assert.equal(answer.reply.id, received.id);
  });

  it('invokes a service asynchronously; an unanswered wait times out', async () => {
    const request = nextMessage(client, `${sys}/thing/service/Reboot`);
    const answer = await https(emu, 'POST', `${api}/services/Reboot`, { params: { delay: 1 }, timeoutMs: 300 });
    assert.equal((JSON.parse((await request).payload.toString()) as { method: string }).method, 'thing.service.Reboot');
    assert.equal((answer.body as { code: string }).code, 'TIMEOUT');
  });

  it('RRPC: concurrent calls each get their own answer; no answer is TIMEOUT; offline is OFFLINE', async () => {
    const prefix = `${sys}/rrpc/request/`;
    const onRequest = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(prefix)) return;
      const id = topic.slice(prefix.length);
      if (payload.toString() !== 'ignore')
        void client.publishAsync(`${sys}/rrpc/response/${id}`, `re:${payload.toString()}`, { qos: 0 });
    };
    client.on('message', onRequest);
    const calls = await Promise.all(
      ['a', 'b', 'c'].map((p) => https(emu, 'POST', `${api}/rrpc`, { payload: p, timeoutMs: 3000 })),
    );
    assert.deepEqual(
      calls.map((c) => [(c.body as { code: string }).code, (c.body as { reply: string }).reply]),
      [
        ['SUCCESS', 're:a'],
        ['SUCCESS', 're:b'],
        ['SUCCESS', 're:c'],
      ],
    );
    const silent = await https(emu, 'POST', `${api}/rrpc`, { payload: 'ignore', timeoutMs: 1000 });
    assert.equal((silent.body as { code: string }).code, 'TIMEOUT');
    client.off('message', onRequest);
    const offline = await https(emu, 'POST', '/api/devices/pkCloud/idle/rrpc', { payload: 'x', timeoutMs: 1000 });
    assert.equal((offline.body as { code: string }).code, 'OFFLINE');
  });

  it('counts messages in and out', () => {
    const counters = emu.registry.device(device.productKey, device.deviceName)!.counters;
    assert.ok(counters.messagesIn >= 8, `in ${counters.messagesIn}`);
    assert.ok(counters.messagesOut >= 8, `out ${counters.messagesOut}`);
  });

  it('disconnects a device from the cloud side and records why', async () => {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const answer = await https(emu, 'POST', `${api}/disconnect`, {});
    assert.deepEqual(answer.body, { disconnected: true });
    await closed;
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    await eventually(() => !record.online, 2000, 'offline');
    assert.equal(record.lastDisconnectReason, 'disconnected-by-cloud');
    client = await connectDevice(emu, 'tls', device);
  });

  it('answers 400 to a body that is not JSON', async () => {
    assert.equal((await https(emu, 'POST', `${api}/publish`, '{')).status, 400);
  });
});
