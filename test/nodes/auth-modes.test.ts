// The config node's authentication modes against the emulator: HTTPS token logins (expiry, HTTPS
// faults, refused signatures) and dynamic registration kept across a Node-RED restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { sharedPool } from '../../nodes/lib/pool';
import { eventually } from '../helpers/emulator';
import {
  logged,
  collect,
  completions,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedSuite,
  stopLikeRestart,
} from '../helpers/flows';
import { fileContextSettings, loadContextStores } from '../helpers/red-internals';

const tokenDevice = { productKey: 'pkTok', deviceName: 'tok-dev', deviceSecret: 'tok-secret' };
const product = { productKey: 'pkDyn', productSecret: 'dyn-product-secret' };
const WEEK = 7 * 24 * 3600 * 1000;

function authHost(emu: Emulator): string {
  return `${emu.host}:${emu.ports.https}`;
}

function record(emu: Emulator, productKey: string, deviceName: string) {
  const found = emu.registry.device(productKey, deviceName);
  if (!found) throw new Error(`no device ${productKey}/${deviceName}`);
  return found;
}

describe('auth modes: HTTPS token', () => {
  const emulator = nodeRedSuite({
    devices: [
      tokenDevice,
      { ...tokenDevice, deviceName: 'tok-expiring' },
      { ...tokenDevice, deviceName: 'tok-faults' },
    ],
    rateLimit: 0,
  });
  before(() => sharedPool.configure({ tuning: { authTimeoutMs: 800 } }));

  function tokenFlow(emu: Emulator, deviceName: string, extra: Record<string, unknown> = {}) {
    return [
      deviceConfig(
        emu,
        { ...tokenDevice, deviceName },
        { transport: 'tls', authMode: 'https', authHost: authHost(emu), ...extra },
      ),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/seq', qos: '1' },
    ];
  }

  it('logs in with the token over TLS and publishes', async () => {
    const emu = emulator();
    await helper.load(NODES, tokenFlow(emu, 'tok-dev'), { dev: { deviceSecret: tokenDevice.deviceSecret } });
    const dev = record(emu, tokenDevice.productKey, 'tok-dev');
    await eventually(() => dev.online, 8000, 'online');
    assert.equal(dev.counters.tokens, 1);
    assert.equal(await inject('pub', { payload: 'hello' }), undefined);
    // QoS 0 completes once written: the emulator records it a moment later.
    await eventually(() => dev.uplink.at(-1)?.payload === 'hello', 5000, 'the message at the emulator');
  });

  it('a token expiring mid-run: one re-auth, one reconnect, no QoS 1 message lost', async () => {
    const emu = emulator();
    const dev = record(emu, tokenDevice.productKey, 'tok-expiring');
    emu.registry.tokenLifetimeMs = 1500;
    try {
      await helper.load(NODES, tokenFlow(emu, 'tok-expiring'), { dev: { deviceSecret: tokenDevice.deviceSecret } });
      await eventually(() => dev.online, 8000, 'online');
      // Only the first token is short-lived.
      emu.registry.tokenLifetimeMs = WEEK;
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        sent.push(inject('pub', { payload: `m${i}` }, 20_000));
        await new Promise((r) => setTimeout(r, 50));
      }
      const results = await Promise.all(sent);
      assert.deepEqual(results.filter(Boolean), []);
      assert.equal(dev.lastDisconnectReason === undefined, false, 'the emulator ended the session');
      assert.equal(dev.counters.tokens, 2, 're-authenticated once');
      assert.equal(dev.counters.connects, 2, 'reconnected once');
      assert.equal(dev.counters.refused['bad-token'] ?? 0, 1, 'the stale token was tried once');
      const received = new Set(dev.uplink.map((m) => m.payload));
      for (let i = 0; i < 60; i++) assert.ok(received.has(`m${i}`), `m${i} arrived`);
    } finally {
      emu.registry.tokenLifetimeMs = WEEK;
    }
  });

  it('HTTPS 500, a non-JSON body and no answer are reported and retried with growing delays', async () => {
    const emu = emulator();
    const path = '/auth/devicename';
    emu.injectHttpFault({ path, kind: 'status', status: 500 });
    emu.injectHttpFault({ path, kind: 'not-json' });
    emu.injectHttpFault({ path, kind: 'hang' });
    const firstRequest = emu.authRequests.length;
    await helper.load(NODES, tokenFlow(emu, 'tok-faults'), { dev: { deviceSecret: tokenDevice.deviceSecret } });
    const states = collect('states');
    const dev = record(emu, tokenDevice.productKey, 'tok-faults');
    await eventually(() => dev.online, 10_000, 'online after the faults');
    const requests = emu.authRequests.slice(firstRequest);
    assert.deepEqual(
      requests.map((r) => r.fault),
      ['status', 'not-json', 'hang', undefined],
    );
    // fastPool: 100, 200, 400 ms between attempts, plus the 800 ms timeout of the hanging call.
    const gaps = requests.slice(1).map((r, i) => r.time - requests[i]!.time);
    assert.ok(gaps[0]! >= 90 && gaps[1]! >= 190 && gaps[2]! >= 1150, `gaps ${gaps.join(', ')}`);
    const codes = states.filter((m) => m.topic === 'disconnected').map((m) => (m.payload as { code?: unknown }).code);
    assert.deepEqual(codes, ['HTTPS_STATUS', 'HTTPS_NOT_JSON', 'HTTPS_TIMEOUT']);
    const errors = logged('dev', 'error');
    assert.equal(errors.length, 3);
    assert.match(errors[0]!, /HTTP status 500.*retry in 0 s/);
    assert.match(errors[1]!, /not JSON/);
    assert.match(errors[2]!, /no answer within 0.8 s/);
  });

  it('a wrong secret: HTTPS 401 shown as auth failed, retried only after a minute', async () => {
    const emu = emulator();
    const before = emu.authRequests.length;
    await helper.load(NODES, tokenFlow(emu, 'tok-dev'), { dev: { deviceSecret: 'wrong' } });
    const states = collect('states');
    await eventually(() => states.some((m) => m.topic === 'auth-failed'), 5000, 'auth-failed');
    const failed = states.find((m) => m.topic === 'auth-failed')!.payload as { code: unknown; nextRetryMs: number };
    assert.equal(failed.code, 401);
    assert.ok(failed.nextRetryMs >= 60_000, String(failed.nextRetryMs));
    assert.match(logged('dev', 'error')[0]!, /refused the signature \(401\)/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(emu.authRequests.length - before, 1);
  });

  it('the config is refused with a clear error when the transport is not TLS', async () => {
    const emu = emulator();
    await helper.load(NODES, tokenFlow(emu, 'tok-dev', { transport: 'tcp' }), {
      dev: { deviceSecret: tokenDevice.deviceSecret },
    });
    const err = await inject('pub', { payload: 'x' });
    assert.equal(err?.code, 'CONFIG_INVALID');
    assert.match(err.message, /over TLS only/);
  });
});

describe('auth modes: dynamic registration', () => {
  const devices = ['via-https', 'restart-https', 'restart-mqtt'].map((deviceName) => ({
    productKey: product.productKey,
    deviceName,
  }));
  const emulator = nodeRedSuite({
    devices: [...devices, { ...product, deviceName: 'activated', deviceSecret: 'already-here' }],
    products: [product],
  });
  let contextDir = '';
  before(() => {
    contextDir = mkdtempSync(join(tmpdir(), 'aliyun-iot-context-'));
    helper.settings(fileContextSettings(contextDir));
  });
  after(() => {
    helper.settings({});
    rmSync(contextDir, { recursive: true, force: true });
  });

  function registerFlow(emu: Emulator, deviceName: string, extra: Record<string, unknown> = {}) {
    return [
      deviceConfig(
        emu,
        { productKey: product.productKey, deviceName, deviceSecret: '' },
        { transport: 'tls', authMode: 'register', authHost: authHost(emu), autoConnect: false, ...extra },
      ),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
  }
  const creds = { dev: { productSecret: product.productSecret } };

  /** helper.load, then the context stores of settings.contextStorage (the helper leaves them out). */
  async function load(flow: Record<string, unknown>[]) {
    await helper.load(NODES, flow, creds);
    await loadContextStores();
  }

  /** Stops the flows the way a Node-RED restart does: the context stays on disk. */
  async function restart(flow: Record<string, unknown>[]) {
    await stopLikeRestart();
    await load(flow);
  }

  const variants = [
    { name: 'registers over https', deviceName: 'restart-https', extra: { registerVia: 'https' } },
    { name: 'registers over mqtt', deviceName: 'restart-mqtt', extra: { registerVia: 'mqtt' } },
    {
      name: 'registration-free (regnwl, then connwl)',
      deviceName: 'restart-free',
      extra: { registerKind: 'registration-free' },
    },
  ];
  for (const { name, deviceName, extra } of variants) {
    it(`${name}: keeps the result in the persistent context; after a restart logs in without registering`, async () => {
      const emu = emulator();
      const dev = () => emu.registry.device(product.productKey, deviceName);
      const flow = registerFlow(emu, deviceName, extra);
      await load(flow);
      assert.deepEqual(logged('dev', 'warn'), [], 'a persistent store was found');
      await inject('conn', { action: 'connect' });
      await eventually(() => dev()?.online === true, 8000, 'online after registering');
      assert.equal(dev()!.counters.registrations, 1);

      await restart(flow);
      await inject('conn', { action: 'connect' });
      await eventually(() => dev()?.online === true, 8000, 'online after the restart');
      assert.equal(dev()!.counters.registrations, 1, 'did not register again');
      assert.equal(dev()!.counters.connects, 2);
    });
  }

  it('an activated device: 6289 reported clearly, backed off, no crash', async () => {
    const emu = emulator();
    await load(registerFlow(emu, 'activated'));
    const states = collect('states');
    await inject('conn', { action: 'connect' });
    await eventually(() => states.some((m) => m.topic === 'auth-failed'), 5000, 'auth-failed');
    const failed = states.find((m) => m.topic === 'auth-failed')!.payload as { code: unknown; nextRetryMs: number };
    assert.equal(failed.code, 6289);
    assert.ok(failed.nextRetryMs >= 60_000);
    assert.match(logged('dev', 'error')[0]!, /already activated \(6289\).*enter its DeviceSecret/);
    assert.deepEqual(
      completions('conn').map((c) => c.err),
      [undefined],
    );
  });

  it('warns when only memory context exists', async () => {
    const emu = emulator();
    helper.settings({});
    try {
      await helper.load(NODES, registerFlow(emu, 'via-https'), creds);
      assert.match(logged('dev', 'warn').join('\n'), /kept in memory only/);
    } finally {
      helper.settings(fileContextSettings(contextDir));
    }
  });
});
