// The platform's thing-model check (TSL 数据校验) seen from plain mqtt.js devices: property and event
// posts of a product with a TSL are answered with the platform's codes, and what is refused is not
// stored. The TSL is test/fixtures/tsl/demo-lamp.json, a console export.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { TSL_CODES, type Emulator } from '../../emulator/index';
import { alinkCall, connectSigned, sleep, start, subDeviceSign } from '../helpers/emulator';
import { demoLamp } from './tsl-fixture';

const DEMO_LAMP = demoLamp();

const lamp = { productKey: 'a1DemoPk', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const gateway = { productKey: 'pkTslGw', deviceName: 'gw', deviceSecret: 'gw-secret' };
const sub = { productKey: 'a1DemoPk', deviceName: 'sub1', deviceSecret: 'sub1-secret' };
const sys = (d: { productKey: string; deviceName: string }) => `/sys/${d.productKey}/${d.deviceName}`;

type Reply = Record<string, unknown> & { code?: unknown; message?: unknown };

describe('emulator: thing model checks on device posts', () => {
  let emu: Emulator;
  let client: MqttClient;
  let gw: MqttClient;
  let nextId = 1;
  const stored = () => emu.registry.device(lamp.productKey, lamp.deviceName)!.properties;

  before(async () => {
    emu = await start({
      rateLimit: 0,
      log: () => undefined,
      products: [
        { productKey: 'a1DemoPk', tsl: DEMO_LAMP },
        { productKey: 'pkTslGw', nodeType: 'gateway' },
      ],
      devices: [lamp, gateway, sub],
    });
    client = await connectSigned(emu, lamp);
    gw = await connectSigned(emu, gateway);
  });
  after(async () => {
    await client.endAsync(true);
    await gw.endAsync(true);
    await emu.close();
  });

  function post(params: unknown, via = client, device = lamp): Promise<Reply> {
    const body = { id: String(nextId++), version: '1.0', params, method: 'thing.event.property.post' };
    return alinkCall(via, `${sys(device)}/thing/event/property/post`, body);
  }

  function postEvent(event: string, params: unknown): Promise<Reply> {
    const body = { id: String(nextId++), version: '1.0', params, method: `thing.event.${event}.post` };
    return alinkCall(client, `${sys(lamp)}/thing/event/${event}/post`, body);
  }

  /** The reply refuses with `code`, its message naming `identifier`, and `property` keeps its value. */
  async function refused(params: Record<string, unknown>, code: number, identifier: string): Promise<void> {
    const before = JSON.stringify(stored());
    const reply = await post(params);
    assert.equal(reply.code, code, JSON.stringify(reply));
    assert.ok(String(reply.message).includes(identifier), `message names ${identifier}: ${String(reply.message)}`);
    assert.deepEqual(reply.data, {});
    assert.equal(JSON.stringify(stored()), before, 'nothing of a refused post is stored');
  }

  it('accepts every type at its boundaries and stores the values', async () => {
    const low = {
      Temperature: -40,
      Humidity: 0,
      LightSwitch: 0,
      Mode: 0,
      Label: 'x'.repeat(32),
      InstallDate: '1700000000000',
      Location: { lat: -90, lng: -180 },
      Readings: [1.5, 2, -3.25, 0, 1e3],
      Schedule: [{ Hour: 0, Mode: 0 }, { Hour: 23, Mode: 2 }, { Hour: 12, Mode: 1 }, { Hour: 6 }],
      Firmware: '1.0.3',
    };
    assert.equal((await post(low)).code, 200);
    assert.deepEqual(stored(), low);
    const high = { Temperature: 120, Humidity: 100, LightSwitch: 1, Mode: 2, InstallDate: 1700000000000, Power: 42 };
    assert.equal((await post(high)).code, 200);
    assert.equal(stored().Temperature, 120);
    assert.equal(stored().InstallDate, 1700000000000);
  });

  it('accepts the {"Prop": {"value", "time"}} form and checks its value', async () => {
    assert.equal((await post({ Temperature: { value: 21.5, time: Date.now() } })).code, 200);
    assert.equal(stored().Temperature, 21.5);
    await refused({ Temperature: { value: 121, time: Date.now() } }, TSL_CODES.outOfRange, 'Temperature');
  });

  it('float and int: just beyond min or max is refused with the range code', async () => {
    await refused({ Temperature: 120.01 }, TSL_CODES.outOfRange, 'Temperature');
    await refused({ Temperature: -40.1 }, TSL_CODES.outOfRange, 'Temperature');
    await refused({ Humidity: 101 }, TSL_CODES.outOfRange, 'Humidity');
    await refused({ Humidity: -1 }, TSL_CODES.outOfRange, 'Humidity');
  });

  it('int must be a whole JSON number; float any number, never a string', async () => {
    await refused({ Humidity: 50.5 }, TSL_CODES.wrongType, 'Humidity');
    await refused({ Humidity: '40' }, TSL_CODES.wrongType, 'Humidity');
    await refused({ Temperature: '21.5' }, TSL_CODES.wrongType, 'Temperature');
    await refused({ Temperature: null }, TSL_CODES.wrongType, 'Temperature');
  });

  it('bool: 1 and 0 are accepted, a JSON true is refused, 2 is out of range', async () => {
    assert.equal((await post({ LightSwitch: 1 })).code, 200);
    await refused({ LightSwitch: true }, TSL_CODES.wrongType, 'LightSwitch');
    await refused({ LightSwitch: false }, TSL_CODES.wrongType, 'LightSwitch');
    await refused({ LightSwitch: 2 }, TSL_CODES.outOfRange, 'LightSwitch');
  });

  it('enum: a value among the keys; another number or a string is refused', async () => {
    assert.equal((await post({ Mode: 1 })).code, 200);
    await refused({ Mode: 3 }, TSL_CODES.outOfRange, 'Mode');
    await refused({ Mode: '1' }, TSL_CODES.wrongType, 'Mode');
  });

  it('text: a string of at most length UTF-8 bytes', async () => {
    await refused({ Label: 'x'.repeat(33) }, TSL_CODES.tooLong, 'Label');
    // 10 characters of 3 bytes each fit in 32 bytes; 11 do not.
    assert.equal((await post({ Label: '灯'.repeat(10) })).code, 200);
    await refused({ Label: '灯'.repeat(11) }, TSL_CODES.tooLong, 'Label');
    await refused({ Label: 42 }, TSL_CODES.wrongType, 'Label');
  });

  it('date: UTC milliseconds as digits, in a string or a number', async () => {
    await refused({ InstallDate: '2024-01-01' }, TSL_CODES.wrongType, 'InstallDate');
    await refused({ InstallDate: 1.5 }, TSL_CODES.wrongType, 'InstallDate');
  });

  it('struct: its fields checked; a field the TSL does not define is refused', async () => {
    assert.equal((await post({ Location: { lat: 30.25 } })).code, 200, 'a missing field is not looked for');
    await refused({ Location: { lat: 90.5, lng: 0 } }, TSL_CODES.outOfRange, 'Location.lat');
    await refused({ Location: { lat: 1, alt: 3 } }, TSL_CODES.unknownMember, 'Location.alt');
    await refused({ Location: [1, 2] }, TSL_CODES.wrongType, 'Location');
  });

  it('array: at most size elements of the item type; structs inside are checked', async () => {
    await refused({ Readings: [1, 2, 3, 4, 5, 6] }, TSL_CODES.tooLong, 'Readings');
    await refused({ Readings: [1, 'two'] }, TSL_CODES.wrongType, 'Readings[1]');
    await refused({ Readings: 1 }, TSL_CODES.wrongType, 'Readings');
    await refused({ Schedule: [{ Hour: 1 }, { Hour: 24 }] }, TSL_CODES.outOfRange, 'Schedule[1].Hour');
    await refused({ Schedule: [{ Hour: 1, Mode: 5 }] }, TSL_CODES.outOfRange, 'Schedule[0].Mode');
    await refused({ Schedule: [{ Hour: 1, Minute: 5 }] }, TSL_CODES.unknownMember, 'Schedule[0].Minute');
  });

  it('an unknown identifier is refused with its code, and the whole post with it', async () => {
    await refused({ Brightness: 50, Colour: 'red' }, TSL_CODES.unknownProperty, 'Colour');
    assert.notEqual(stored().Brightness, 50);
  });

  it('a TSL-checked post without method is refused with 6300', async () => {
    const reply = await alinkCall(client, `${sys(lamp)}/thing/event/property/post`, {
      id: '77',
      version: '1.0',
      params: { Humidity: 10 },
    });
    assert.deepEqual([reply.id, reply.code], ['77', 6300]);
  });

  it('events: outputs checked against outputData; an unknown event is refused', async () => {
    const ok = await postEvent('Alarm', { value: { Level: 5, Message: 'overheat', ErrorCode: 3 }, time: Date.now() });
    assert.equal(ok.code, 200);
    // The example flow's payload, and params without the "value" wrapper.
    assert.equal((await postEvent('Alarm', { value: { ErrorCode: 3 } })).code, 200);
    assert.equal((await postEvent('Alarm', { Level: 1 })).code, 200);
    const high = await postEvent('Alarm', { value: { Level: 6 }, time: Date.now() });
    assert.equal(high.code, TSL_CODES.outOfRange);
    assert.match(String(high.message), /Alarm\.Level/);
    const extra = await postEvent('Alarm', { value: { Level: 1, Colour: 'red' } });
    assert.equal(extra.code, TSL_CODES.unknownMember);
    const unknown = await postEvent('Fire', { value: {} });
    assert.equal(unknown.code, TSL_CODES.unknownEvent);
    assert.match(String(unknown.message), /Fire/);
  });

  it("checks a sub-device's posts through its gateway against the sub-device's product", async () => {
    const clientId = `${sub.productKey}&${sub.deviceName}`;
    const entry = { productKey: sub.productKey, deviceName: sub.deviceName, clientId, timestamp: '1' };
    const signed = { ...entry, signmethod: 'hmacsha256', sign: subDeviceSign('sha256', sub, clientId, '1') };
    assert.equal((await alinkCall(gw, `${sys(gateway)}/thing/topo/add`, { id: '1', params: [signed] })).code, 200);
    const login = `/ext/session/${gateway.productKey}/${gateway.deviceName}/combine/login`;
    assert.equal((await alinkCall(gw, login, { id: '2', params: signed })).code, 200);
    const bad = await post({ Temperature: 500 }, gw, sub);
    assert.equal(bad.code, TSL_CODES.outOfRange);
    assert.deepEqual(emu.registry.device(sub.productKey, sub.deviceName)!.properties, {});
    assert.equal((await post({ Temperature: 20.5 }, gw, sub)).code, 200);
    assert.deepEqual(emu.registry.device(sub.productKey, sub.deviceName)!.properties, { Temperature: 20.5 });
  });

  it('sys.ack 0 asks for no reply, refused or not', async () => {
    let replied = false;
    const topic = `${sys(lamp)}/thing/event/property/post`;
    const onMessage = (t: string) => (replied ||= t === `${topic}_reply`);
    client.on('message', onMessage);
    const body = { id: '90', version: '1.0', sys: { ack: 0 }, params: { Humidity: 500 }, method: 'x' };
    await client.publishAsync(topic, JSON.stringify(body), { qos: 1 });
    await sleep(200);
    client.off('message', onMessage);
    assert.equal(replied, false);
  });
});

describe('emulator: thing models of custom modules and of none', () => {
  it('names a custom module’s features functionBlockId:identifier', async () => {
    const module = {
      functionBlockId: 'motor',
      functionBlockName: 'Motor',
      profile: { productKey: 'pkFb' },
      properties: [
        {
          identifier: 'Speed',
          name: 'Speed',
          accessMode: 'rw',
          dataType: { type: 'int', specs: { min: '0', max: '10' } },
        },
      ],
      events: [],
      services: [],
    };
    const device = { productKey: 'pkFb', deviceName: 'd', deviceSecret: 's' };
    const emu = await start({ products: [{ productKey: 'pkFb', tsl: [DEMO_LAMP, module] }], devices: [device] });
    try {
      const client = await connectSigned(emu, device);
      const topic = `${sys(device)}/thing/event/property/post`;
      const call = (params: object) =>
        alinkCall(client, topic, { id: '1', params, method: 'thing.event.property.post' });
      assert.equal((await call({ 'motor:Speed': 10, LightSwitch: 1 })).code, 200);
      assert.equal((await call({ 'motor:Speed': 11 })).code, TSL_CODES.outOfRange);
      assert.equal((await call({ Speed: 1 })).code, TSL_CODES.unknownProperty);
      await client.endAsync();
    } finally {
      await emu.close();
    }
  });

  it('refuses to start on a TSL it cannot read, naming the place', async () => {
    const tsl = { properties: [{ identifier: 'X', name: 'X', dataType: { type: 'decimal' } }] };
    await assert.rejects(
      start({ products: [{ productKey: 'pkBad', tsl }] }),
      /tsl of pkBad\.properties\[0\] \(X\): unknown data type "decimal"/,
    );
  });

  it('leaves a product without TSL as it was: anything goes and is stored', async () => {
    const device = { productKey: 'pkPlain', deviceName: 'd', deviceSecret: 's' };
    const emu = await start({ devices: [device] });
    try {
      const client = await connectSigned(emu, device);
      const reply = await alinkCall(client, `${sys(device)}/thing/event/property/post`, {
        id: '1',
        params: { Anything: true, Temperature: 'hot' },
      });
      assert.equal(reply.code, 200);
      assert.deepEqual(emu.registry.device('pkPlain', 'd')!.properties, { Anything: true, Temperature: 'hot' });
      const event = await alinkCall(client, `${sys(device)}/thing/event/Whatever/post`, {
        id: '2',
        params: { value: {} },
      });
      assert.equal(event.code, 200);
      await client.endAsync();
    } finally {
      await emu.close();
    }
  });
});
