// `dataDir` keeps the emulator's state across restarts (issue #20): a flow that kept a registered
// secret still logs in after the emulator restarts, and a corrupt state file is reported, set aside
// and never fatal.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator, EmulatorOptions } from '../../emulator/index';
import { signAuth, signRegister } from '../../nodes/lib/index';
import { connectDevice, connectRaw, eventually, https, refusalCode, start } from '../helpers/emulator';

const product = { productKey: 'pkKeep', productSecret: 'keep-product-secret' };
const preRegistered = (deviceName: string) => ({ productKey: product.productKey, deviceName });
const newDir = () => mkdtempSync(join(tmpdir(), 'emu-state-'));
const quiet = { log: () => undefined };

async function withEmulator<T>(options: EmulatorOptions, work: (emu: Emulator) => Promise<T>): Promise<T> {
  const emu = await start(options);
  try {
    return await work(emu);
  } finally {
    await emu.close();
  }
}

async function registerOverHttps(emu: Emulator, deviceName: string): Promise<string> {
  const form = new URLSearchParams({ ...signRegister({ ...product, deviceName }) }).toString();
  const answer = await https(emu, 'POST', '/auth/register/device', form);
  assert.equal(answer.body.code, 200, JSON.stringify(answer.body));
  return (answer.body.data as { deviceSecret: string }).deviceSecret;
}

/** MQTT registration (register or regnwl): what the platform pushes before it hangs up. */
async function registerOverMqtt(emu: Emulator, kind: 'register' | 'regnwl', deviceName: string) {
  const { random, sign } = signRegister({ ...product, deviceName, random: 'r4nd0m' });
  const client: MqttClient = await connectRaw(emu, 'tls', {
    clientId: `${deviceName}|securemode=${kind === 'register' ? 2 : -2},authType=${kind},random=${random},signmethod=hmacsha256|`,
    username: `${deviceName}&${product.productKey}`,
    password: sign,
    keepalive: 0,
  });
  return new Promise<Record<string, string>>((resolve) => {
    client.once('message', (_topic, payload) => {
      client.once('close', () => resolve(JSON.parse(payload.toString()) as Record<string, string>));
    });
  });
}

const connwl = (deviceName: string, issued: Record<string, string>) => ({
  clientId: `${issued.clientId ?? ''}|securemode=-2,authType=connwl|`,
  username: `${deviceName}&${product.productKey}`,
  password: issued.deviceToken ?? '',
});

describe('emulator state across restarts (dataDir)', () => {
  it('a device registered over HTTPS still logs in after a restart; without dataDir it gets CONNACK 5', async () => {
    const dataDir = newDir();
    const options = { dataDir, devices: [preRegistered('reg-1')], products: [product], ...quiet };
    const secret = await withEmulator(options, async (emu) => {
      const obtained = await registerOverHttps(emu, 'reg-1');
      // Saved while running, not only at close.
      await eventually(
        () =>
          existsSync(join(dataDir, 'state.json')) &&
          readFileSync(join(dataDir, 'state.json'), 'utf8').includes(obtained),
        3000,
        'the state written',
      );
      return obtained;
    });
    const login = { ...preRegistered('reg-1'), deviceSecret: secret };
    await withEmulator(options, async (emu) => {
      assert.equal(await refusalCode(connectDevice(emu, 'tls', login)), 0);
    });
    await withEmulator({ ...options, dataDir: undefined }, async (emu) => {
      assert.equal(await refusalCode(connectDevice(emu, 'tls', login)), 5, 'the control: nothing kept');
    });
    // Logged in once, so activated: the next restart refuses to register it again.
    await withEmulator(options, async (emu) => {
      const form = new URLSearchParams({ ...signRegister({ ...product, deviceName: 'reg-1' }) }).toString();
      assert.equal((await https(emu, 'POST', '/auth/register/device', form)).body.code, 6289);
    });
  });

  it('keeps MQTT registrations, registration-free tokens and HTTPS tokens; drops expired tokens', async () => {
    const dataDir = newDir();
    const plain = { productKey: 'pkPlainKeep', deviceName: 'plain', deviceSecret: 'plain-secret' };
    const options = { dataDir, devices: [preRegistered('reg-2'), plain], products: [product], ...quiet };
    const kept = await withEmulator(options, async (emu) => {
      const registered = await registerOverMqtt(emu, 'register', 'reg-2');
      const free = await registerOverMqtt(emu, 'regnwl', 'free-2');
      const form = new URLSearchParams({ ...signAuth(plain) }).toString();
      const token = (await https(emu, 'POST', '/auth/devicename', form)).body.data as Record<string, string>;
      emu.registry.tokenLifetimeMs = 1;
      const expired = (await https(emu, 'POST', '/auth/devicename', form)).body.data as Record<string, string>;
      return { registered, free, token, expired };
    });
    // Whether the final write caught the 1 ms token before it expired is a matter of timing; the
    // file states it as stored-but-expired, so the restart's own check is what is tested.
    const file = join(dataDir, 'state.json');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { tokens: Record<string, unknown>[] };
    stored.tokens = stored.tokens.filter((t) => t.iotId !== kept.expired.iotId);
    stored.tokens.push({
      iotId: kept.expired.iotId,
      iotToken: kept.expired.iotToken,
      expiresAt: Date.now() - 1000,
      productKey: plain.productKey,
      deviceName: plain.deviceName,
    });
    writeFileSync(file, JSON.stringify(stored));
    await withEmulator(options, async (emu) => {
      const secret = kept.registered.deviceSecret ?? '';
      assert.equal(
        await refusalCode(connectDevice(emu, 'tls', { ...preRegistered('reg-2'), deviceSecret: secret })),
        0,
      );
      assert.equal(await refusalCode(connectRaw(emu, 'tls', connwl('free-2', kept.free))), 0);
      const tokenLogin = (t: Record<string, string>) => ({ clientId: 'c1', username: t.iotId, password: t.iotToken });
      assert.equal(await refusalCode(connectRaw(emu, 'tls', tokenLogin(kept.token))), 0);
      assert.notEqual(await refusalCode(connectRaw(emu, 'tls', tokenLogin(kept.expired))), 0);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { tokens: { iotId: string }[] };
      assert.ok(!saved.tokens.some((t) => t.iotId === kept.expired.iotId), 'the expired token is not stored');
    });
  });

  it('merges with the devices given: a given secret wins (its tokens go), stored devices and product secrets stay', async () => {
    const dataDir = newDir();
    const changing = { productKey: 'pkMerge', deviceName: 'changing', deviceSecret: 'old-secret' };
    const token = await withEmulator(
      { dataDir, devices: [changing, preRegistered('reg-3')], products: [product], ...quiet },
      async (emu) => {
        await registerOverHttps(emu, 'reg-3');
        const form = new URLSearchParams({ ...signAuth(changing) }).toString();
        return (await https(emu, 'POST', '/auth/devicename', form)).body.data as Record<string, string>;
      },
    );
    // Restarted with a new secret for one device, and neither the other device nor the product given.
    await withEmulator({ dataDir, devices: [{ ...changing, deviceSecret: 'new-secret' }], ...quiet }, async (emu) => {
      assert.equal(await refusalCode(connectDevice(emu, 'tls', { ...changing, deviceSecret: 'new-secret' })), 0);
      assert.equal(await refusalCode(connectDevice(emu, 'tls', changing)), 4, 'the old secret no longer works');
      assert.notEqual(
        await refusalCode(connectRaw(emu, 'tls', { clientId: 'c1', username: token.iotId, password: token.iotToken })),
        0,
        'a token issued under the old secret is gone',
      );
      assert.ok(emu.registry.device(product.productKey, 'reg-3')?.deviceSecret, 'the device not given is kept');
      assert.equal(emu.registry.product(product.productKey)?.productSecret, product.productSecret);
    });
  });

  it('writes the file atomically and readable by its owner only', async () => {
    const dataDir = newDir();
    await withEmulator({ dataDir, devices: [preRegistered('reg-4')], products: [product], ...quiet }, async (emu) => {
      await registerOverHttps(emu, 'reg-4');
      assert.equal(emu.statePath, join(dataDir, 'state.json'));
    });
    assert.deepEqual(readdirSync(dataDir), ['state.json'], 'no temporary file left');
    const saved = JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as { version: number };
    assert.equal(saved.version, 1);
    if (process.platform !== 'win32') assert.equal(statSync(join(dataDir, 'state.json')).mode & 0o777, 0o600);
  });

  it('reports a corrupt or invalid state file with its path, sets it aside and starts without it', async () => {
    for (const [content, reason] of [
      ['{"version":1,"devices":[{"deviceSecret":"leaked-secret-xyz"', /is not valid JSON/],
      [
        JSON.stringify({ version: 1, devices: [{ productKey: 7, deviceSecret: 'leaked-secret-xyz' }] }),
        /devices\[0\]\.productKey/,
      ],
      [JSON.stringify({ version: 9 }), /newer emulator \(version 9\)/],
    ] as const) {
      const dataDir = newDir();
      const path = join(dataDir, 'state.json');
      writeFileSync(path, content);
      const logged: string[] = [];
      await withEmulator(
        { dataDir, devices: [preRegistered('reg-5')], products: [product], log: (l) => logged.push(l) },
        async (emu) => {
          assert.equal(
            await refusalCode(connectDevice(emu, 'tls', { ...preRegistered('reg-5'), deviceSecret: 'x' })),
            5,
          );
        },
      );
      assert.equal(logged.length, 1, logged.join('\n'));
      const line = logged[0] ?? '';
      assert.ok(line.includes(path), line);
      assert.match(line, reason);
      assert.ok(!line.includes('leaked-secret-xyz'), 'the file content is not logged');
      const aside = readdirSync(dataDir).find((f) => f.startsWith('state.json.corrupt-'));
      assert.ok(aside && line.includes(aside), `set aside: ${readdirSync(dataDir).join(', ')}`);
      assert.equal(readFileSync(join(dataDir, aside), 'utf8'), content, 'kept as it was');
      assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { version: number }).version, 1, 'a new state written');
    }
  });

  it('refuses a dataDir that cannot be a directory', async () => {
    const file = join(newDir(), 'a-file');
    writeFileSync(file, '');
    await assert.rejects(start({ dataDir: file }), /dataDir .*a-file cannot be used/);
  });
});
