// Login strategies without a network: the platform's HTTPS and MQTT calls are replaced through the
// `platform` seam, and node:test's mock Date plays the token's age.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { resolveEndpoint } from '../../nodes/lib/endpoint';
import type { DeviceToken } from '../../nodes/lib/device-auth';
import {
  createLogin,
  memoryStore,
  type CredentialStore,
  type MqttLogin,
  type PlatformCalls,
} from '../../nodes/lib/login';
import { validOptions } from '../helpers/device-options';

const device = { productKey: 'pkLogin', deviceName: 'login-dev', deviceSecret: 'login-secret' };
const DAY = 24 * 3600_000;

const optionsOf = (settings: Record<string, unknown>) =>
  validOptions({ ...device, endpoint: 'custom', host: 'iot.test', ...settings });

/** Platform calls that count what they were asked and answer from the test's script. */
function fakePlatform() {
  const calls: string[] = [];
  let tokens = 0;
  const platform: PlatformCalls = {
    requestToken: () => {
      calls.push('token');
      tokens++;
      const token: DeviceToken = {
        iotId: `iot-${tokens}`,
        iotToken: `token-${tokens}`,
        expiresAt: Date.now() + 7 * DAY,
        mqtt: { host: 'mqtt.iot.test', port: 8883 },
      };
      return Promise.resolve(token);
    },
    registerOverHttps: (options: { productKey: string; deviceName: string }) => {
      calls.push('register-https');
      return Promise.resolve({ ...options, deviceSecret: 'issued-secret' });
    },
    registerOverMqtt: ((options: { productKey: string; deviceName: string }, kind: string) => {
      calls.push(`register-mqtt-${kind}`);
      const { productKey, deviceName } = options;
      return Promise.resolve(
        kind === 'regnwl'
          ? { productKey, deviceName, clientId: 'issued-client', deviceToken: 'issued-token' }
          : { productKey, deviceName, deviceSecret: 'issued-secret' },
      );
    }) as unknown as PlatformCalls['registerOverMqtt'],
  };
  return { platform, calls };
}

function loginFor(settings: Record<string, unknown>, store?: CredentialStore) {
  const options = optionsOf(settings);
  const fake = fakePlatform();
  const warnings: string[] = [];
  const login = createLogin(options, {
    endpoint: resolveEndpoint(options),
    platform: fake.platform,
    store,
    warn: (code) => warnings.push(code),
  });
  return { login, calls: fake.calls, warnings };
}

const clock = (t: TestContext) => t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });

describe('login strategies (platform calls faked)', () => {
  it('sign: synchronous, signed afresh for every attempt', (t) => {
    clock(t);
    const { login, calls } = loginFor({ transport: 'tcp' });
    const first = login.next() as MqttLogin;
    assert.ok(!((first as unknown) instanceof Promise), 'no await on the hot path');
    assert.equal(first.username, `${device.deviceName}&${device.productKey}`);
    assert.deepEqual([first.broker.protocol, first.broker.host, first.broker.port], ['mqtt', 'iot.test', 1883]);
    t.mock.timers.tick(1000);
    const second = login.next() as MqttLogin;
    assert.notEqual(second.password, first.password, 'a new timestamp, a new signature');
    assert.equal(login.refused(4), false, 'a refused signature is not retried at once');
    assert.deepEqual(calls, []);
  });

  it('https: one token reused until an hour before its 7 days; a refused cached token is fetched again at once', async (t) => {
    clock(t);
    const { login, calls } = loginFor({ authMode: 'https' });
    const first = await login.next();
    assert.deepEqual([first.username, first.password], ['iot-1', 'token-1']);
    assert.deepEqual(first.broker, { protocol: 'mqtts', host: 'mqtt.iot.test', port: 8883 });
    assert.equal(first.clientId, `${device.productKey}.${device.deviceName}`);
    assert.equal((await login.next()).password, 'token-1', 'cached');
    assert.deepEqual(calls, ['token']);
    // The platform refuses the cached token (expired early): one prompt retry with a fresh one.
    assert.equal(login.refused(4), true);
    assert.equal((await login.next()).password, 'token-2');
    // A fresh token refused again is not worth another prompt retry.
    assert.equal(login.refused(4), false);
    assert.equal((await login.next()).password, 'token-3');
    // Close to the end of its 7 days the token is renewed before it is used.
    t.mock.timers.tick(7 * DAY - 3600_000 - 1);
    assert.equal((await login.next()).password, 'token-3');
    t.mock.timers.tick(2);
    assert.equal((await login.next()).password, 'token-4');
    assert.deepEqual(calls, ['token', 'token', 'token', 'token']);
  });

  it('register over HTTPS: once, kept in the store, and never again while the store has it', async () => {
    const store = memoryStore();
    const settings = { authMode: 'register', productSecret: 'ps', deviceSecret: '' };
    const first = loginFor(settings, store);
    const login = await first.login.next();
    assert.equal(login.username, `${device.deviceName}&${device.productKey}`);
    assert.deepEqual(first.calls, ['register-https']);
    assert.equal((await store.load())?.deviceSecret, 'issued-secret');
    // A restart: a new strategy with the same store logs in without registering.
    const second = loginFor(settings, store);
    await second.login.next();
    assert.deepEqual(second.calls, []);
    // The store holds another device's result: not used.
    await store.save({ productKey: 'other', deviceName: 'x', deviceSecret: 's' });
    const third = loginFor(settings, store);
    await third.login.next();
    assert.deepEqual(third.calls, ['register-https']);
  });

  it('register: a DeviceSecret the user typed wins; MQTT and registration-free go over MQTT', async () => {
    const typed = loginFor({ authMode: 'register', productSecret: 'ps' });
    await typed.login.next();
    assert.deepEqual(typed.calls, [], 'the given secret is used instead of registering');

    const viaMqtt = loginFor({ authMode: 'register', registerVia: 'mqtt', productSecret: 'ps', deviceSecret: '' });
    await viaMqtt.login.next();
    assert.deepEqual(viaMqtt.calls, ['register-mqtt-register']);

    const free = loginFor({ authMode: 'register', registerKind: 'registration-free', productSecret: 'ps' });
    const login = await free.login.next();
    assert.deepEqual(free.calls, ['register-mqtt-regnwl'], 'registration-free ignores a typed secret');
    assert.equal(login.clientId, 'issued-client|securemode=-2,authType=connwl|');
    assert.equal(login.password, 'issued-token');
  });

  it('register: a store that fails to save is a warning, and the login goes on', async () => {
    const failing: CredentialStore = {
      load: () => Promise.resolve(undefined),
      save: () => Promise.reject(new Error('disk full')),
    };
    const { login, warnings } = loginFor({ authMode: 'register', productSecret: 'ps', deviceSecret: '' }, failing);
    assert.equal((await login.next()).username, `${device.deviceName}&${device.productKey}`);
    assert.deepEqual(warnings, ['SECRET_NOT_SAVED']);
  });
});
