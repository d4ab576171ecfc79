// Secrets never leave through the API (issue #20): every cloud API route and every /auth error path
// is called with every kind of secret in play (device secrets, a registered secret, a product
// secret, an HTTPS token, a registration-free token, the API token), and no answer and no log line
// contains any of them.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { signAuth, signRegister } from '../../nodes/lib/index';
import { connectDevice, connectRaw, eventually, https, httpsRaw, reachedAt, start } from '../helpers/emulator';

const product = { productKey: 'pkWalk', productSecret: 'walk-product-secret-7f3a' };
const plain = { productKey: 'pkWalk', deviceName: 'walk-plain', deviceSecret: 'walk-device-secret-91c2' };
const other = { productKey: 'pkWalkOther', deviceName: 'walk-other', deviceSecret: 'walk-other-secret-55d0' };
const form = (fields: object) =>
  new URLSearchParams(
    Object.entries(fields as Record<string, string | undefined>).filter(
      (e): e is [string, string] => e[1] !== undefined,
    ),
  ).toString();

describe('emulator: no secret in any answer or log line', () => {
  let emu: Emulator;
  let local: Emulator;
  let device: MqttClient;
  const logged: string[] = [];
  before(async () => {
    emu = await start({
      host: '0.0.0.0',
      dataDir: mkdtempSync(join(tmpdir(), 'emu-walk-')),
      devices: [
        plain,
        other,
        { productKey: 'pkWalkGw', deviceName: 'walk-gw', deviceSecret: 'walk-gw-secret-0b1e', nodeType: 'gateway' },
        { productKey: 'pkWalk', deviceName: 'walk-reg' },
        { productKey: 'pkWalk', deviceName: 'walk-idle' },
      ],
      products: [product, { productKey: 'pkWalkOther' }],
      // Small limits: the throttling log lines are walked too, without slowing the walk down.
      guessing: { maxFailures: 3, delayMs: 1, maxDelayMs: 1 },
      log: (line) => logged.push(line),
    });
    local = reachedAt(emu, '127.0.0.1');
    // Every kind of secret, obtained the way devices obtain them; these answers carry them by design.
    const registered = await https(
      local,
      'POST',
      '/auth/register/device',
      form(signRegister({ ...product, deviceName: 'walk-reg' })),
    );
    assert.equal(registered.body.code, 200);
    assert.equal((await https(local, 'POST', '/auth/devicename', form(signAuth(plain)))).body.code, 200);
    const { random, sign } = signRegister({ ...product, deviceName: 'walk-free', random: 'r4nd0m' });
    const free = await connectRaw(local, 'tls', {
      clientId: `walk-free|securemode=-2,authType=regnwl,random=${random},signmethod=hmacsha256|`,
      username: `walk-free&${product.productKey}`,
      password: sign,
      keepalive: 0,
    });
    await new Promise<void>((resolve) => free.once('close', () => resolve()));
    device = await connectDevice(local, 'tls', plain);
    await device.publishAsync(`/${plain.productKey}/${plain.deviceName}/user/update`, 'hello', { qos: 1 });
    await eventually(() => emu.registry.device(plain.productKey, plain.deviceName)?.counters.messagesIn === 1);
  });
  after(async () => {
    await device.endAsync(true);
    await emu.close();
  });

  it('walks every cloud API route and every /auth error path', async () => {
    const secrets = [...emu.registry.secrets(), emu.apiToken ?? ''];
    assert.ok(secrets.length >= 6, `secrets in play: ${secrets.length}`);
    for (const known of [plain.deviceSecret, product.productSecret]) assert.ok(secrets.includes(known));
    const bodies: string[] = [];
    const headers = { authorization: `Bearer ${emu.apiToken ?? ''}` };
    const api = async (method: string, path: string, body?: object | string) => {
      const answer = await httpsRaw(local, method, path, { headers, body });
      bodies.push(`${method} ${path} -> ${answer.status} ${answer.text}`);
      return answer;
    };

    assert.equal((await httpsRaw(local, 'GET', '/api/devices')).status, 401);
    assert.equal((await api('GET', '/api/devices')).status, 200);
    await api('GET', '/api/stats');
    await api('POST', '/api/stats');
    await api('GET', '/api/nothing');
    await api('GET', '/api/devices/pkWalk/nobody');
    await api('POST', '/api/devices', 'not json');
    for (const d of emu.registry.list()) {
      const base = `/api/devices/${d.productKey}/${d.deviceName}`;
      assert.equal((await api('GET', base)).status, 200);
      await api('GET', `${base}/messages`);
      await api('POST', `${base}/publish`, { topic: `/${d.productKey}/${d.deviceName}/user/get`, payload: 'x' });
      await api('POST', `${base}/publish`, { topic: '/elsewhere', payload: 'x' });
      await api('POST', `${base}/properties`, { params: { a: 1 }, timeoutMs: 50 });
      await api('POST', `${base}/services/reboot`, { params: {}, timeoutMs: 50 });
      await api('POST', `${base}/rrpc`, { payload: 'ping', timeoutMs: 1000 });
      await api('POST', `${base}/rrpc`, { service: 'sync', params: {}, timeoutMs: 1000 });
      await api('POST', `${base}/unknown`);
      await api('DELETE', base);
      await api('POST', `${base}/disconnect`);
      // Gateways (issue 15): topology, list/found, disable and enable.
      const subDevices = [{ productKey: other.productKey, deviceName: other.deviceName }];
      await api('GET', `${base}/topology`);
      await api('POST', `${base}/topology/add`, { subDevices, move: true });
      await api('POST', `${base}/topology/add`, { subDevices: 'x' });
      await api('POST', `${base}/topology/delete`, { subDevices });
      await api('GET', `${base}/found`);
      await api('POST', `${base}/disable`);
      await api('POST', `${base}/enable`);
    }

    const auth = async (path: string, fields: object) => {
      const answer = await httpsRaw(local, 'POST', path, { body: form(fields) });
      bodies.push(`POST ${path} -> ${answer.status} ${answer.text}`);
      return (JSON.parse(answer.text) as { code: unknown }).code;
    };
    const signed = signAuth(plain);
    assert.equal(await auth('/auth/devicename', { ...signed, sign: '00' }), 401);
    assert.equal(await auth('/auth/devicename', { ...signed, clientId: undefined }), 460);
    assert.equal(await auth('/auth/devicename', { ...signed, signmethod: 'hmacsha512' }), 460);
    assert.equal(await auth('/auth/devicename', signAuth({ ...plain, deviceName: 'ghost' })), 5001);
    assert.equal(await auth('/auth/devicename', signAuth({ ...plain, deviceName: 'walk-idle' })), 5001);
    const register = (fields: Partial<Parameters<typeof signRegister>[0]>) =>
      signRegister({ ...product, deviceName: 'walk-idle', ...fields });
    assert.equal(await auth('/auth/register/device', { ...register({}), random: undefined }), 460);
    assert.equal(await auth('/auth/register/device', register({ productKey: 'pkWalkOther' })), 6288);
    assert.equal(await auth('/auth/register/device', { ...register({}), signMethod: 'hmacsha512' }), 6292);
    assert.equal(await auth('/auth/register/device', register({ productSecret: 'wrong' })), 6600);
    assert.equal(await auth('/auth/register/device', register({ deviceName: 'ghost' })), 5001);
    assert.equal(await auth('/auth/register/device', register({ deviceName: plain.deviceName })), 6289);
    assert.equal(await auth('/auth/nothing', {}), 'NOT_FOUND');
    emu.injectHttpFault({ kind: 'status', status: 503 });
    await auth('/auth/devicename', signed);

    assert.ok(
      logged.some((l) => l.includes('refused GET /api/devices from 127.0.0.1')),
      logged.join('\n'),
    );
    assert.ok(
      logged.some((l) => l.includes('slowed down')),
      'the throttling lines are walked too',
    );
    for (const text of [...bodies, ...logged]) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `a secret in: ${text.slice(0, 200)}`);
    }
  });
});
