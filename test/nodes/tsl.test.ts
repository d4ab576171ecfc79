// The thing model in Node-RED: a product config node with a TSL; its devices' property, event,
// command and reply nodes check and convert data against it before anything reaches the emulator.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { eventually } from '../helpers/emulator';
import {
  collect,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  logged,
  NODES,
  nodeRedSuite,
  flowSubscriptions,
} from '../helpers/flows';

const device = { productKey: 'pkTsl', deviceName: 'tsl-dev', deviceSecret: 'tsl-dev-secret' };
const field = (identifier: string, dataType: unknown) => ({ identifier, name: identifier, dataType });
const bool = { type: 'bool', specs: { '0': 'off', '1': 'on' } };

const TSL = {
  profile: { productKey: device.productKey },
  properties: [
    {
      ...field('Temperature', { type: 'float', specs: { min: '-40', max: '120', step: '0.1', unit: '°C' } }),
      accessMode: 'rw',
    },
    { ...field('LightSwitch', bool), accessMode: 'rw' },
    { ...field('Mode', { type: 'enum', specs: { '0': 'auto', '1': 'manual' } }), accessMode: 'rw' },
  ],
  events: [
    {
      identifier: 'Alarm',
      name: 'Alarm',
      type: 'alert',
      outputData: [field('Level', { type: 'int', specs: { min: '1', max: '5' } })],
    },
  ],
  services: [
    {
      identifier: 'ToggleRelay',
      name: 'Toggle relay',
      callType: 'sync',
      inputData: [field('On', bool)],
      outputData: [field('Relay', bool)],
    },
  ],
};

describe('thing model (TSL) in Node-RED', () => {
  const registering = { productKey: device.productKey, deviceName: 'tsl-registering' };
  const emulator = nodeRedSuite({
    devices: [device, registering],
    products: [{ productKey: device.productKey, productSecret: 'tsl-product-secret' }],
    rateLimit: 0,
  });
  const record = () => emulator().registry.device(device.productKey, device.deviceName)!;

  /** A product with the TSL, its device, and `nodes` wired to helper nodes. */
  async function load(nodes: Record<string, unknown>[], product: Record<string, unknown> = {}) {
    const emu: Emulator = emulator();
    const flow = [
      {
        id: 'prod',
        type: 'aliyun-iot-product',
        name: 'lamp',
        productKey: device.productKey,
        tsl: JSON.stringify(TSL),
        ...product,
      },
      // The device takes its ProductKey from the product: its own field stays blank.
      { ...deviceConfig(emu, device, { rateLimit: '0' }), productKey: '', product: 'prod' },
      ...nodes,
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);
  }
  const uplinks = () => record().uplink.length;

  it('property: converted (true -> 1, "21.5" -> 21.5) and posted; a value out of range refused, nothing sent', async () => {
    await load([{ id: 'prop', type: 'aliyun-iot-property', device: 'dev', wires: [['out']] }]);
    const out = collect('out');
    assert.equal(await inject('prop', { payload: { LightSwitch: true, Temperature: '21.5' } }), undefined);
    await eventually(() => out.length === 1, 5000, 'post_reply');
    assert.deepEqual(record().properties, { LightSwitch: 1, Temperature: 21.5 });
    const sent = uplinks();
    const err = await inject('prop', { payload: { Temperature: 130 } });
    assert.equal(err?.code, 'TSL_RANGE');
    assert.equal(err.message, 'Temperature: 130 is outside the range -40 to 120');
    assert.equal((await inject('prop', { payload: { Mode: 5 } }))?.code, 'TSL_ENUM');
    assert.equal((await inject('prop', { payload: { Temprature: 20 } }))?.code, 'TSL_UNKNOWN');
    assert.equal(uplinks(), sent, 'nothing sent for a refusal');
  });

  it('unknown identifiers sent with a warning when the node says so', async () => {
    await load([{ id: 'prop', type: 'aliyun-iot-property', device: 'dev', tslUnknown: 'warn', wires: [['out']] }]);
    const out = collect('out');
    assert.equal(await inject('prop', { payload: { Humidity: 40, LightSwitch: false } }), undefined);
    await eventually(() => out.length === 1, 5000, 'post_reply');
    assert.equal(record().properties.LightSwitch, 0);
    assert.deepEqual(logged('prop', 'warn'), ["Humidity is not in the product's thing model"]);
  });

  it('event: output data converted and checked; an event the model lacks refused', async () => {
    await load([{ id: 'ev', type: 'aliyun-iot-event', device: 'dev', event: 'Alarm', wires: [['out']] }]);
    const out = collect('out');
    assert.equal(await inject('ev', { payload: { Level: '3' } }), undefined);
    await eventually(() => out.length === 1, 5000, 'post_reply');
    const posted = JSON.parse(record().uplink.at(-1)!.payload) as { params: { value: unknown } };
    assert.deepEqual(posted.params.value, { Level: 3 });
    const err = await inject('ev', { payload: { Level: 9 } });
    assert.equal(err?.code, 'TSL_RANGE');
    assert.match(err.message, /Alarm\.Level: 9/);
    assert.equal((await inject('ev', { event: 'Fire', payload: {} }))?.code, undefined, 'the node names its event');
  });

  it("command warns when the cloud's call does not match; reply is checked and converted", async () => {
    await load([
      { id: 'cmd', type: 'aliyun-iot-command', device: 'dev', wires: [['out']] },
      { id: 'reply', type: 'aliyun-iot-reply', device: 'dev' },
    ]);
    await eventually(() => flowSubscriptions(record()) >= 3, 3000, 'command filters');
    const out = collect('out');
    const call = emulator().platform.callThing(record(), 'ToggleRelay', { On: 'yes' }, 5000);
    await eventually(() => out.length === 1, 5000, 'the call reaches the flow anyway');
    assert.match(
      logged('cmd', 'warn')[0] ?? '',
      /service\/ToggleRelay does not match the thing model: ToggleRelay\.On: "yes" is not a valid bool/,
    );
    const refused = await inject('reply', { ...out[0]!, payload: { Relay: 7 } });
    assert.equal(refused?.code, 'TSL_ENUM');
    assert.equal(await inject('reply', { ...out[0]!, payload: { Relay: true } }), undefined);
    const answer = await call;
    assert.deepEqual(answer.reply, { id: answer.id, code: 200, data: { Relay: 1 } });
  });

  it("a device in registration mode takes the product's ProductSecret", async () => {
    const emu = emulator();
    const flow = [
      { id: 'prod', type: 'aliyun-iot-product', productKey: device.productKey, tsl: JSON.stringify(TSL) },
      {
        ...deviceConfig(emu, { ...registering, deviceSecret: '' }, { transport: 'tls' }),
        productKey: '',
        product: 'prod',
        authMode: 'register',
        authHost: `${emu.host}:${emu.ports.https}`,
      },
      { id: 'prop', type: 'aliyun-iot-property', device: 'dev', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, { prod: { productSecret: 'tsl-product-secret' } });
    const reg = () => emu.registry.device(registering.productKey, registering.deviceName)!;
    await eventually(() => reg().online, 10_000, 'registered with the product secret and online');
    assert.equal(reg().counters.registrations, 1);
    const out = collect('out');
    assert.equal(await inject('prop', { payload: { Mode: '1' } }), undefined);
    await eventually(() => out.length === 1, 5000, 'post_reply');
    assert.equal(reg().properties.Mode, 1);
  });

  it('a device naming a missing product, or a product with a broken TSL, is refused clearly', async () => {
    const emu = emulator();
    const flow = [
      { id: 'bad', type: 'aliyun-iot-product', productKey: device.productKey, tsl: '{"properties": {}}' },
      { ...deviceConfig(emu, device), productKey: '', product: 'bad' },
      { ...deviceConfig(emu, device, { deviceName: 'other' }), id: 'lost', productKey: '', product: 'nowhere' },
      { id: 'p1', type: 'aliyun-iot-property', device: 'dev' },
      { id: 'p2', type: 'aliyun-iot-property', device: 'lost' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    assert.match((helper.getNode('bad') as unknown as { problem: string }).problem, /properties is not a list/);
    for (const id of ['p1', 'p2']) assert.equal((await inject(id, { payload: { Mode: 1 } }))?.code, 'CONFIG_INVALID');
    assert.match((helper.getNode('lost') as unknown as { problem: string }).problem, /product config node nowhere/);
  });
});
