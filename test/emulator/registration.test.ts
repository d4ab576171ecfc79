// The emulator's MQTT registration (authType register / regnwl / connwl) and token expiry, with
// plain mqtt.js: what the platform pushes, when it refuses, and that the results log in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { signAuth, signRegister } from '../../nodes/lib/index';
import { connectDevice, connectRaw, eventually, https, refusalCode, start, type Transport } from '../helpers/emulator';

const product = { productKey: 'pkMqReg', productSecret: 'mq-product-secret' };

function registration(kind: 'register' | 'regnwl', deviceName: string, productSecret = product.productSecret) {
  const { random, sign } = signRegister({ ...product, productSecret, deviceName, random: 'r4nd0m' });
  const securemode = kind === 'register' ? 2 : -2;
  return {
    clientId: `${deviceName}|securemode=${securemode},authType=${kind},random=${random},signmethod=hmacsha256|`,
    username: `${deviceName}&${product.productKey}`,
    password: sign,
  };
}

/** Connects for registration and resolves with what the platform pushes before it hangs up. */
async function pushed(
  emu: Emulator,
  transport: Transport,
  login: object,
): Promise<{ topic: string; body: Record<string, string> }> {
  const client: MqttClient = await connectRaw(emu, transport, { ...login, keepalive: 0 });
  return new Promise((resolve) => {
    client.once('message', (topic, payload) => {
      client.once('close', () => resolve({ topic, body: JSON.parse(payload.toString()) as Record<string, string> }));
    });
  });
}

describe('emulator: MQTT registration and token expiry', () => {
  let emu: Emulator;
  before(async () => {
    emu = await start({
      devices: [
        { productKey: product.productKey, deviceName: 'pre-1' },
        { productKey: product.productKey, deviceName: 'pre-2' },
        { productKey: 'pkPlain', deviceName: 'token-dev', deviceSecret: 'token-secret' },
      ],
      products: [product],
    });
  });
  after(() => emu.close());

  it('authType=register pushes the secret on /ext/register and hangs up; once activated it is refused with 5', async () => {
    const result = await pushed(emu, 'tls', registration('register', 'pre-1'));
    assert.equal(result.topic, '/ext/register');
    assert.equal(result.body.deviceName, 'pre-1');
    const login = { productKey: product.productKey, deviceName: 'pre-1', deviceSecret: result.body.deviceSecret! };
    const client = await connectDevice(emu, 'tls', login);
    await client.endAsync();
    assert.equal(await refusalCode(connectRaw(emu, 'tls', registration('register', 'pre-1'))), 5);
  });

  it('refuses registration over TCP (3), with a wrong product secret (4), for an unknown device (4)', async () => {
    assert.equal(await refusalCode(connectRaw(emu, 'tcp', registration('register', 'pre-2'))), 3);
    assert.equal(await refusalCode(connectRaw(emu, 'tls', registration('register', 'pre-2', 'wrong'))), 4);
    assert.equal(await refusalCode(connectRaw(emu, 'tls', registration('register', 'nobody'))), 4);
  });

  it('authType=regnwl creates the device and pushes clientId and token; connwl logs in with them only', async () => {
    const result = await pushed(emu, 'tls', registration('regnwl', 'free-1'));
    assert.equal(result.topic, '/ext/regnwl');
    const { clientId, deviceToken } = result.body as { clientId: string; deviceToken: string };
    const connwl = (token: string) => ({
      clientId: `${clientId}|securemode=-2,authType=connwl|`,
      username: `free-1&${product.productKey}`,
      password: token,
    });
    const client = await connectRaw(emu, 'tls', connwl(deviceToken));
    await client.endAsync();
    assert.equal(await refusalCode(connectRaw(emu, 'tls', connwl('0'.repeat(32)))), 4);
    assert.equal(await refusalCode(connectRaw(emu, 'tcp', connwl(deviceToken))), 3);
  });

  it('a token session ends when its token does, and the stale token is then refused with 3', async () => {
    emu.registry.tokenLifetimeMs = 400;
    try {
      const form = signAuth({ productKey: 'pkPlain', deviceName: 'token-dev', deviceSecret: 'token-secret' });
      const answer = await https(emu, 'POST', '/auth/devicename', new URLSearchParams({ ...form }).toString());
      const { iotId, iotToken } = answer.body.data as { iotId: string; iotToken: string };
      const client = await connectRaw(emu, 'tls', { clientId: 'c1', username: iotId, password: iotToken });
      const dev = emu.registry.device('pkPlain', 'token-dev')!;
      await eventually(() => dev.online, 3000, 'session started');
      await eventually(() => !dev.online, 3000, 'session ended');
      assert.equal(dev.lastDisconnectReason, 'token-expired');
      client.end(true);
      assert.equal(
        await refusalCode(connectRaw(emu, 'tls', { clientId: 'c1', username: iotId, password: iotToken })),
        3,
      );
    } finally {
      emu.registry.tokenLifetimeMs = 7 * 24 * 3600 * 1000;
    }
  });
});
