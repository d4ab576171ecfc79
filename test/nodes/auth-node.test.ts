// The aliyun-iot-auth node: its three modes hand out credentials that a plain mqtt.js client (and
// for `sign`, Node-RED's core mqtt nodes) log in with; errors carry the platform's code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { Emulator } from '../../emulator/index';
import { signMqtt } from '../../nodes/lib/index';
import { connectRaw, eventually } from '../helpers/emulator';
import { collect, deviceConfig, helper, inject, NODES, nodeRedSuite } from '../helpers/flows';
import { unloadFlows } from '../helpers/red-internals';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const coreMqtt = require('@node-red/nodes/core/network/10-mqtt.js') as (red: unknown) => void;

const device = { productKey: 'pkAuthNode', deviceName: 'auth-dev', deviceSecret: 'auth-node-secret' };
const product = { productKey: 'pkAuthDyn', productSecret: 'auth-node-product-secret' };

function authFlow(emu: Emulator, mode: string, config: Record<string, unknown> = {}) {
  return [
    deviceConfig(emu, device, { authHost: `${emu.host}:${emu.ports.https}`, ...config }),
    { id: 'auth', type: 'aliyun-iot-auth', device: 'dev', mode, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
}

async function issue(emu: Emulator, mode: string, msg: NodeMessage, config: Record<string, unknown> = {}) {
  await helper.load(NODES, authFlow(emu, mode, config), { dev: { deviceSecret: device.deviceSecret } });
  const out = collect('out');
  const err = await inject('auth', msg);
  // send() delivers on the next tick, after done().
  if (!err) await eventually(() => out.length > 0, 2000, 'output');
  return { err, out: out[0] };
}

function everything(): string {
  const node = helper.getNode('auth') as unknown as { status: { args: unknown[][] }; error: { args: unknown[][] } };
  // The log gets the error's text; the message itself (the user's own input) goes to Catch nodes only.
  return JSON.stringify([node.status.args, node.error.args.map((a) => String(a[0]))]);
}

describe('aliyun-iot-auth node', () => {
  const emulator = nodeRedSuite({
    devices: [device, { productKey: product.productKey, deviceName: 'gw-child-1' }],
    products: [product],
  });

  it('sign: the output logs a plain mqtt.js client in', async () => {
    const emu = emulator();
    const { err, out } = await issue(emu, 'sign', { payload: null });
    assert.equal(err, undefined);
    const p = out!.payload as Record<string, string | number>;
    assert.equal(p.url, `mqtt://${emu.host}:${emu.ports.mqtt}`);
    assert.equal(p.securemode, 3);
    assert.equal(p.signmethod, 'hmacsha256');
    const client = await connectRaw(emu, 'tcp', {
      clientId: String(p.clientId),
      username: String(p.username),
      password: String(p.password),
    });
    await client.endAsync();
  });

  it('sign: the output drives the core mqtt-broker and mqtt out nodes', async () => {
    const emu = emulator();
    const { out } = await issue(emu, 'sign', { payload: null });
    const p = out!.payload as Record<string, string | number>;
    await unloadFlows();
    const flow = [
      {
        id: 'broker',
        type: 'mqtt-broker',
        broker: p.host,
        port: String(p.port),
        clientid: p.clientId,
        protocolVersion: '4',
        keepalive: '60',
        cleansession: true,
        autoConnect: true,
      },
      {
        id: 'mqttOut',
        type: 'mqtt out',
        broker: 'broker',
        topic: `/${device.productKey}/${device.deviceName}/user/core`,
        qos: '1',
      },
    ];
    await helper.load([...NODES, coreMqtt], flow, {
      broker: { user: String(p.username), password: String(p.password) },
    });
    const dev = emu.registry.device(device.productKey, device.deviceName)!;
    await eventually(() => dev.online, 8000, 'core mqtt node online');
    helper.getNode('mqttOut')!.receive({ payload: 'from core mqtt' });
    await eventually(() => dev.uplink.some((m) => m.payload === 'from core mqtt'), 5000, 'message via core node');
  });

  it('https: iotId and iotToken log a plain mqtt.js client in over TLS', async () => {
    const emu = emulator();
    const { err, out } = await issue(
      emu,
      'https',
      { payload: null },
      { transport: 'tls', port: String(emu.ports.mqtts) },
    );
    assert.equal(err, undefined);
    const p = out!.payload as {
      iotId: string;
      iotToken: string;
      expiresAt: number;
      mqtt: { host: string; port: number };
    };
    assert.ok(p.expiresAt > Date.now() + 6 * 24 * 3600 * 1000);
    assert.deepEqual(p.mqtt, { host: emu.host, port: emu.ports.mqtts });
    const client = await connectRaw(emu, 'tls', { clientId: 'any-client', username: p.iotId, password: p.iotToken });
    await client.endAsync();
  });

  it('register for msg.device: the obtained secret logs in; the product secret is not echoed', async () => {
    const emu = emulator();
    const child = { productKey: product.productKey, deviceName: 'gw-child-1', productSecret: product.productSecret };
    const { err, out } = await issue(emu, 'register', { payload: null, device: child });
    assert.equal(err, undefined);
    const p = out!.payload as { productKey: string; deviceName: string; deviceSecret: string };
    assert.equal(p.deviceName, 'gw-child-1');
    assert.deepEqual(out!.device, { productKey: product.productKey, deviceName: 'gw-child-1' });
    assert.ok(!everything().includes(product.productSecret));
    const creds = signMqtt({ ...p, securemode: 3 });
    const client = await connectRaw(emu, 'tcp', creds);
    await client.endAsync();
  });

  it('register, registration-free over MQTT: clientId and deviceToken log in with authType=connwl', async () => {
    const emu = emulator();
    const child = {
      productKey: product.productKey,
      deviceName: 'made-on-the-fly',
      productSecret: product.productSecret,
    };
    const { err, out } = await issue(
      emu,
      'register',
      { payload: null, device: child },
      {
        transport: 'tls',
        port: String(emu.ports.mqtts),
        registerKind: 'registration-free',
      },
    );
    assert.equal(err, undefined);
    const p = out!.payload as { clientId: string; deviceToken: string };
    const client = await connectRaw(emu, 'tls', {
      clientId: `${p.clientId}|securemode=-2,authType=connwl|`,
      username: `made-on-the-fly&${product.productKey}`,
      password: p.deviceToken,
    });
    await client.endAsync();
  });

  it('errors: the platform code in err.code, bad msg.device named, no secret in status or log', async () => {
    const emu = emulator();
    const wrong = { productKey: product.productKey, deviceName: 'gw-child-1', productSecret: 'not-the-product-secret' };
    let result = await issue(emu, 'register', { payload: null, device: wrong });
    assert.equal(result.err?.code, 6600);
    assert.match(result.err.message, /check ProductSecret/);
    assert.equal(result.out, undefined);
    assert.ok(!everything().includes('not-the-product-secret'));
    await unloadFlows();

    result = await issue(emu, 'https', { payload: null }, { transport: 'tcp' });
    assert.equal(result.err?.code, 'CONFIG_INVALID');
    await unloadFlows();

    result = await issue(emu, 'sign', { payload: null, device: 'pkX/dnX' });
    assert.equal(result.err?.code, 'DEVICE_INVALID');
    const err2 = await inject('auth', { payload: null, device: { productKey: 'pk', deviceName: 'dn' } });
    assert.equal(err2?.code, 'DEVICE_INVALID');
    assert.match(err2.message, /DeviceSecret is required/);
    assert.ok(!everything().includes(device.deviceSecret));
  });
});
