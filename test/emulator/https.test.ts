// HTTPS device auth (then MQTT with the token) and dynamic registration, over node:https.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { signAuth, signRegister } from '../../nodes/lib/index';
import { connectDevice, connectRaw, eventually, https, refusalCode, sleep, start } from '../helpers/emulator';

const device = { productKey: 'pkAuth', deviceName: 'auth-dev', deviceSecret: 'auth-secret' };
const form = (fields: Record<string, string | undefined>) =>
  new URLSearchParams(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined)).toString();

describe('emulator: HTTPS auth then MQTT', () => {
  let emu: Emulator;
  before(async () => {
    emu = await start({ devices: [device], tokenLifetimeMs: 1500 });
  });
  after(() => emu.close());

  async function auth(fields: Record<string, string | undefined>) {
    return https(emu, 'POST', '/auth/devicename', form({ resources: 'mqtt', version: 'default', ...fields }));
  }

  it('issues a token and the MQTT endpoint for a correct sign, in every sign method', async () => {
    for (const signmethod of ['hmacmd5', 'hmacsha1', 'hmacsha256'] as const) {
      const answer = await auth({ ...signAuth({ ...device, signmethod, timestamp: Date.now() }) });
      assert.equal(answer.body.code, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.message, 'success');
      const data = answer.body.data as {
        iotId: string;
        iotToken: string;
        resources: { mqtt: { host: string; port: number } };
      };
      assert.ok(data.iotId && data.iotToken);
      assert.deepEqual(data.resources.mqtt, { host: emu.host, port: emu.ports.mqtts });
    }
  });

  it('signs with hmacmd5 when signmethod is absent', async () => {
    const signed = signAuth({ ...device, signmethod: 'hmacmd5', clientId: 'c1' });
    assert.equal((await auth({ ...signed, signmethod: undefined })).body.code, 200);
  });

  it('answers 401 for a bad sign, 460 for a missing parameter, 5001 for an unknown device', async () => {
    const signed = signAuth({ ...device, timestamp: 1 });
    assert.equal(
      (await auth({ ...signed, sign: signed.sign.replace(/.$/, (c) => (c === '0' ? '1' : '0')) })).body.code,
      401,
    );
    assert.equal((await auth({ ...signed, clientId: undefined })).body.code, 460);
    assert.equal((await auth({ ...signed, sign: undefined })).body.code, 460);
    assert.equal((await auth({ ...signed, signmethod: 'hmacsha512' })).body.code, 460);
    assert.equal((await auth({ ...signAuth({ ...device, deviceName: 'ghost' }) })).body.code, 5001);
  });

  it('accepts username = iotId, password = iotToken until the token expires, then CONNACK 3', async () => {
    const answer = await auth({ ...signAuth({ ...device, clientId: 'tok' }) });
    const { iotId, iotToken } = answer.body.data as { iotId: string; iotToken: string };
    const client = await connectRaw(emu, 'tls', { clientId: 'tok', username: iotId, password: iotToken });
    // Online is recorded once the broker has finished the login, just after the CONNACK left.
    await eventually(() => emu.registry.device(device.productKey, device.deviceName)?.online === true, 2000, 'online');
    await client.endAsync();
    assert.equal(
      await refusalCode(connectRaw(emu, 'tls', { clientId: 'tok', username: iotId, password: 'forged' })),
      3,
    );
    await sleep(1600);
    assert.equal(
      await refusalCode(connectRaw(emu, 'tls', { clientId: 'tok', username: iotId, password: iotToken })),
      3,
    );
  });

  it('answers 404 for an unknown path', async () => {
    assert.equal((await https(emu, 'GET', '/nowhere')).status, 404);
  });
});

describe('emulator: dynamic registration', () => {
  let emu: Emulator;
  const product = { productKey: 'pkReg', productSecret: 'product-secret' };
  before(async () => {
    emu = await start({
      devices: [
        { productKey: 'pkReg', deviceName: 'new-dev' },
        { productKey: 'pkReg', deviceName: 'active-dev', deviceSecret: 'already' },
        { productKey: 'pkNoReg', deviceName: 'x' },
      ],
      products: [product, { productKey: 'pkNoReg' }],
    });
  });
  after(() => emu.close());

  const register = (fields: Record<string, string | undefined>) =>
    https(emu, 'POST', '/auth/register/device', form(fields));

  it('activates a pre-registered device once and the obtained secret logs in', async () => {
    assert.equal(
      await refusalCode(
        connectDevice(emu, 'tls', { productKey: 'pkReg', deviceName: 'new-dev', deviceSecret: 'guess' }),
      ),
      5,
    );
    const answer = await register({ ...signRegister({ ...product, deviceName: 'new-dev' }) });
    assert.equal(answer.body.code, 200);
    const data = answer.body.data as { productKey: string; deviceName: string; deviceSecret: string };
    assert.equal(data.productKey, 'pkReg');
    assert.equal(data.deviceName, 'new-dev');
    assert.match(data.deviceSecret, /^[0-9a-f]{32}$/);
    const client = await connectDevice(emu, 'tls', data);
    await client.endAsync();
    assert.equal((await register({ ...signRegister({ ...product, deviceName: 'new-dev' }) })).body.code, 6289);
  });

  it('6289 for an activated device, 6288 without registration, 6600 for a bad sign, 6292 for an unknown method', async () => {
    assert.equal((await register({ ...signRegister({ ...product, deviceName: 'active-dev' }) })).body.code, 6289);
    assert.equal(
      (await register({ ...signRegister({ productKey: 'pkNoReg', productSecret: 'x', deviceName: 'x' }) })).body.code,
      6288,
    );
    assert.equal(
      (await register({ ...signRegister({ ...product, productSecret: 'wrong', deviceName: 'new-dev' }) })).body.code,
      6600,
    );
    const signed = signRegister({ ...product, deviceName: 'new-dev', signmethod: 'hmacsha1' });
    assert.equal((await register({ ...signed, signMethod: 'hmacsha512' })).body.code, 6292);
    assert.equal((await register({ ...signed, random: undefined })).body.code, 460);
  });
});
