// The data flow (PLATFORM.md §17.1): what real MQTT devices do, as the messages an AMQP subscriber
// (a rhea client written the way the platform's Node sample does it) receives, topics and bodies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { iotIdOf, type Emulator } from '../../emulator/index';
import { ACCOUNT, messageOn, parseBody, subscribe, type Subscriber } from '../helpers/amqp-client';
import { alinkCall, connectSigned, eventually, https, nextMessage, start, subDeviceSign } from '../helpers/emulator';
import { demoLamp } from './tsl-fixture';

const GROUP = 'DATAFLOW_GROUP';
const lamp = { productKey: 'pkLampFlow', deviceName: 'lamp1', deviceSecret: 'lamp1-secret-77' };
const plain = { productKey: 'pkFlow', deviceName: 'dev1', deviceSecret: 'dev1-secret-88' };
const gw = { productKey: 'pkGwFlow', deviceName: 'gw', deviceSecret: 'gw-secret-99' };
const sub1 = { productKey: 'pkSubFlow', deviceName: 'sub1', deviceSecret: 'sub1-secret-11' };
const LOCAL_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/;

const post = (id: string, params: object, method = 'thing.event.property.post') =>
  JSON.stringify({ id, version: '1.0', params, method });

describe('emulator: the data flow to the AMQP subscription', () => {
  let emu: Emulator;
  let sub: Subscriber;
  const clients: MqttClient[] = [];
  const connect = async (d: typeof lamp) => {
    const client = await connectSigned(emu, d);
    clients.push(client);
    return client;
  };

  before(async () => {
    emu = await start({
      products: [{ productKey: lamp.productKey, tsl: demoLamp() }],
      devices: [lamp, plain, { ...gw, nodeType: 'gateway' }, sub1],
      accounts: [ACCOUNT],
      consumerGroups: [{ id: GROUP }],
      rateLimit: 0,
    });
    sub = subscribe(emu, { clientId: 'dataflow-test', consumerGroupId: GROUP });
    await sub.opened;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await sub.close();
    await emu.close();
  });

  it('online, property and event posts (converted), a custom topic (unchanged), offline', async () => {
    const device = await connect(lamp);
    const status = `/as/mqtt/status/${lamp.productKey}/${lamp.deviceName}`;
    const online = await messageOn(sub, status, (b) => b.status === 'online');
    assert.equal(online.iotId, iotIdOf(lamp));
    assert.deepEqual(
      [online.productKey, online.deviceName, online.clientIp],
      [lamp.productKey, lamp.deviceName, '127.0.0.1'],
    );
    assert.match(String(online.time), LOCAL_TIME);
    assert.match(String(online.lastTime), LOCAL_TIME);
    assert.equal(new Date(String(online.utcTime)).toISOString(), online.utcTime);

    const topic = `/sys/${lamp.productKey}/${lamp.deviceName}/thing/event/property/post`;
    const reply = nextMessage(device, `${topic}_reply`);
    await device.subscribeAsync(`${topic}_reply`);
    // Refused by the TSL (Brightness is 0-100): the platform takes it in nowhere, the data flow neither.
    await device.publishAsync(topic, post('102', { Brightness: 500 }));
    assert.notEqual((JSON.parse((await reply).payload.toString()) as { code: number }).code, 200);
    await device.publishAsync(
      topic,
      post('101', { Temperature: 21.5, Brightness: { value: 80, time: 1_700_000_000_000 } }),
    );
    const flowTopic = `/${lamp.productKey}/${lamp.deviceName}/thing/event/property/post`;
    const props = await messageOn(sub, flowTopic);
    assert.equal(props.requestId, '101');
    assert.deepEqual(
      [props.iotId, props.productKey, props.deviceName],
      [iotIdOf(lamp), lamp.productKey, lamp.deviceName],
    );
    assert.equal(typeof props.gmtCreate, 'number');
    assert.equal(typeof props.deviceType, 'string');
    const items = props.items as Record<string, { value: unknown; time: number }>;
    assert.equal(items.Temperature?.value, 21.5);
    assert.equal(typeof items.Temperature.time, 'number');
    assert.deepEqual(items.Brightness, { value: 80, time: 1_700_000_000_000 });
    assert.ok(!sub.received.some((r) => r.topic === flowTopic && parseBody(r).requestId === '102'));

    const alarm = { Level: 3, Message: 'too hot', ErrorCode: 7 };
    const eventTopic = `/sys/${lamp.productKey}/${lamp.deviceName}/thing/event/Alarm/post`;
    await device.publishAsync(
      eventTopic,
      post('104', { value: alarm, time: 1_700_000_000_001 }, 'thing.event.Alarm.post'),
    );
    const event = await messageOn(sub, `/${lamp.productKey}/${lamp.deviceName}/thing/event/Alarm/post`);
    assert.deepEqual(
      [event.identifier, event.name, event.type, event.requestId, event.time],
      ['Alarm', '告警', 'alert', '104', 1_700_000_000_001],
    );
    assert.deepEqual(event.value, alarm);
    assert.deepEqual(
      [event.iotId, event.productKey, event.deviceName],
      [iotIdOf(lamp), lamp.productKey, lamp.deviceName],
    );

    const custom = `/${lamp.productKey}/${lamp.deviceName}/user/update`;
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x7b]);
    await device.publishAsync(custom, bytes, { qos: 1 });
    await eventually(() => sub.received.some((r) => r.topic === custom), 5000, 'the custom topic');
    assert.deepEqual(sub.received.find((r) => r.topic === custom)?.body, bytes);

    await device.endAsync();
    const offline = await messageOn(sub, status, (b) => b.status === 'offline');
    assert.deepEqual([offline.offlineReasonCode, offline.offlineReasonMessage], [0, 'client-disconnect']);
    assert.equal(offline.clientIp, '127.0.0.1');
  });

  it("passes a device's replies to property set and services on as downlink replies", async () => {
    const device = await connect(lamp);
    const setTopic = `/sys/${lamp.productKey}/${lamp.deviceName}/thing/service/property/set`;
    await device.subscribeAsync(setTopic);
    const request = nextMessage(device, setTopic);
    const record = emu.registry.device(lamp.productKey, lamp.deviceName);
    assert.ok(record);
    const call = emu.platform.callThing(record, 'property/set', { Brightness: 50 }, 5000);
    const { id } = JSON.parse((await request).payload.toString()) as { id: string };
    const answer = { id, code: 200, data: { Brightness: 50 }, message: 'success', version: '1.0' };
    await device.publishAsync(`${setTopic}_reply`, JSON.stringify(answer));
    assert.equal((await call).code, 'SUCCESS');
    const reply = await messageOn(sub, `/${lamp.productKey}/${lamp.deviceName}/thing/downlink/reply/message`);
    assert.deepEqual(
      [reply.requestId, reply.code, reply.message, reply.topic, reply.iotId],
      [id, 200, 'success', setTopic, iotIdOf(lamp)],
    );
    assert.deepEqual(reply.data, { Brightness: 50 });
  });

  it('tells disable, enable and delete on thing/lifecycle, with no secret, and the disabled device offline', async () => {
    await connect(plain);
    const status = `/as/mqtt/status/${plain.productKey}/${plain.deviceName}`;
    // Its session is ready (the broker knows it online) once the status says so.
    await messageOn(sub, status, (b) => b.status === 'online');
    const record = emu.registry.device(plain.productKey, plain.deviceName);
    assert.ok(record);
    const topic = `/${plain.productKey}/${plain.deviceName}/thing/lifecycle`;
    await emu.lifecycle.disable(record, 0);
    const disabled = await messageOn(sub, topic, (b) => b.action === 'disable');
    assert.deepEqual(
      [disabled.iotId, disabled.productKey, disabled.deviceName],
      [iotIdOf(plain), plain.productKey, plain.deviceName],
    );
    assert.equal(typeof disabled.messageCreateTime, 'number');
    const offline = await messageOn(sub, status, (b) => b.status === 'offline');
    assert.deepEqual([offline.offlineReasonCode, offline.offlineReasonMessage], [522, 'disabled']);
    await emu.lifecycle.enable(record, 0);
    await messageOn(sub, topic, (b) => b.action === 'enable');
    await emu.lifecycle.delete(record, 0);
    await messageOn(sub, topic, (b) => b.action === 'delete');
    const bodies = sub.received.filter((r) => r.topic === topic);
    assert.equal(bodies.length, 3);
    for (const r of bodies) {
      assert.ok(!('deviceSecret' in parseBody(r)));
      assert.ok(!r.body.toString().includes(plain.deviceSecret));
    }
  });

  it("counts a sub-device's traffic through its gateway as the sub-device's; topology on the gateway's topic", async () => {
    const gateway = await connect(gw);
    const bound = await https(emu, 'POST', `/api/devices/${gw.productKey}/${gw.deviceName}/topology/add`, {
      subDevices: [{ productKey: sub1.productKey, deviceName: sub1.deviceName }],
    });
    assert.equal(bound.status, 200);
    const topo = await messageOn(sub, `/${gw.productKey}/${gw.deviceName}/thing/topo/lifecycle`);
    assert.deepEqual(
      [topo.action, topo.gwIotId, topo.gwProductKey, topo.gwDeviceName],
      ['add', iotIdOf(gw), gw.productKey, gw.deviceName],
    );
    assert.deepEqual(topo.devices, [
      { iotId: iotIdOf(sub1), productKey: sub1.productKey, deviceName: sub1.deviceName },
    ]);

    const clientId = `${sub1.productKey}.${sub1.deviceName}`;
    const timestamp = String(Date.now());
    const login = await alinkCall(gateway, `/ext/session/${gw.productKey}/${gw.deviceName}/combine/login`, {
      id: '1',
      params: {
        productKey: sub1.productKey,
        deviceName: sub1.deviceName,
        clientId,
        timestamp,
        signMethod: 'hmacSha256',
        sign: subDeviceSign('sha256', sub1, clientId, timestamp),
      },
    });
    assert.equal(login.code, 200);
    const status = `/as/mqtt/status/${sub1.productKey}/${sub1.deviceName}`;
    const online = await messageOn(sub, status, (b) => b.status === 'online');
    assert.equal(online.clientIp, '127.0.0.1');

    const sys = `/sys/${sub1.productKey}/${sub1.deviceName}`;
    await gateway.publishAsync(`${sys}/thing/event/property/post`, post('7', { Power: 'on' }));
    const props = await messageOn(sub, `/${sub1.productKey}/${sub1.deviceName}/thing/event/property/post`);
    assert.deepEqual([props.productKey, props.deviceName, props.requestId], [sub1.productKey, sub1.deviceName, '7']);
    assert.deepEqual((props.items as Record<string, { value: unknown }>).Power?.value, 'on');
    const custom = `/${sub1.productKey}/${sub1.deviceName}/user/data`;
    await gateway.publishAsync(custom, 'through the gateway');
    await eventually(() => sub.received.some((r) => r.topic === custom), 5000, "the sub-device's custom topic");

    await gateway.endAsync();
    const offline = await messageOn(sub, status, (b) => b.status === 'offline');
    assert.equal(offline.offlineReasonMessage, 'gateway-offline');
  });
});
