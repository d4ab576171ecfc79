// Authentication-mode settings: which secret each mode needs, TLS-only modes, the auth host.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHardFailure, platformError } from '../../nodes/lib/device-auth';
import { parseRegistrationResult } from '../../nodes/lib/mqtt-register';
import { authHostOf } from '../../nodes/lib/endpoint';
import { AliyunIotError } from '../../nodes/lib/errors';
import { validateDeviceOptions, type RawDeviceOptions } from '../../nodes/lib/options';

const triple = { productKey: 'a1B2c3D4e5F', deviceName: 'lamp-01' };

function codes(raw: RawDeviceOptions): string[] {
  return validateDeviceOptions({ ...triple, ...raw }).errors.map((e) => e.code);
}

describe('authentication settings', () => {
  it('sign and https need the DeviceSecret; register needs the ProductSecret instead', () => {
    assert.deepEqual(codes({}), ['DEVICE_SECRET_MISSING']);
    assert.deepEqual(codes({ authMode: 'https' }), ['DEVICE_SECRET_MISSING']);
    assert.deepEqual(codes({ authMode: 'register' }), ['PRODUCT_SECRET_MISSING']);
    assert.deepEqual(codes({ authMode: 'register', productSecret: 'ps' }), []);
    assert.deepEqual(codes({ authMode: 'token', deviceSecret: 's' }), ['AUTH_MODE_UNKNOWN']);
  });

  it('token logins and MQTT registration are TLS only; HTTPS registration then signs on any transport', () => {
    assert.deepEqual(codes({ authMode: 'https', deviceSecret: 's', transport: 'tcp' }), ['AUTH_NEEDS_TLS']);
    assert.deepEqual(codes({ authMode: 'https', deviceSecret: 's', transport: 'wss' }), ['AUTH_NEEDS_TLS']);
    const register = { authMode: 'register', productSecret: 'ps' };
    assert.deepEqual(codes({ ...register, registerVia: 'mqtt', transport: 'ws' }), ['AUTH_NEEDS_TLS']);
    assert.deepEqual(codes({ ...register, registerKind: 'registration-free', transport: 'tcp' }), ['AUTH_NEEDS_TLS']);
    assert.deepEqual(codes({ ...register, registerVia: 'https', transport: 'tcp' }), []);
    assert.deepEqual(codes({ ...register, registerVia: 'carrier-pigeon' }), ['REGISTER_VIA_UNKNOWN']);
    assert.deepEqual(codes({ ...register, registerKind: 'maybe' }), ['REGISTER_KIND_UNKNOWN']);
  });

  it('the auth host: derived for public and custom endpoints, required for instances, host[:port] only', () => {
    const https = { authMode: 'https', deviceSecret: 's' };
    assert.deepEqual(codes({ ...https, endpoint: 'instance', instanceId: 'iot-06z00abc' }), ['AUTH_HOST_MISSING']);
    assert.deepEqual(codes({ ...https, endpoint: 'instance', instanceId: 'iot-06z00abc', authHost: 'a.b.c' }), []);
    assert.deepEqual(codes({ ...https, authHost: 'https://a.b.c/auth' }), ['AUTH_HOST_INVALID']);
    // Sign mode never calls HTTPS: an instance without auth host is fine.
    assert.deepEqual(codes({ deviceSecret: 's', endpoint: 'instance', instanceId: 'iot-06z00abc' }), []);

    assert.deepEqual(authHostOf({ endpoint: 'public', regionId: 'ap-southeast-1' }), {
      host: 'iot-auth.ap-southeast-1.aliyuncs.com',
      port: 443,
    });
    assert.deepEqual(authHostOf({ endpoint: 'custom', host: '10.0.0.2' }), { host: '10.0.0.2', port: 443 });
    assert.deepEqual(authHostOf({ endpoint: 'custom', host: 'x', authHost: '127.0.0.1:18443' }), {
      host: '127.0.0.1',
      port: 18443,
    });
    assert.deepEqual(authHostOf({ endpoint: 'public', authHost: '[::1]:8443' }), { host: '::1', port: 8443 });
  });

  it('platform codes keep their number; only codes a retry cannot fix back off hard', () => {
    for (const code of [401, 460, 5001, 6200, 6288, 6289, 6292, 6600]) {
      const err = platformError(code, '');
      assert.equal(err.platformCode, code);
      assert.equal(err.code, `PLATFORM_${code}`);
      assert.ok(isHardFailure(err), String(code));
    }
    assert.equal(isHardFailure(platformError(500, '')), false);
    const unknown = platformError(7777, 'odd');
    assert.equal(unknown.code, 'PLATFORM_CODE');
    assert.match(unknown.message, /7777: odd/);
    assert.equal(isHardFailure(new AliyunIotError('HTTPS_TIMEOUT', { host: 'h', seconds: 1 })), false);
    assert.equal(isHardFailure(new AliyunIotError('REGISTER_REFUSED', { code: 5 }, 5)), true);
  });
});

describe('registration results over MQTT', () => {
  const asked = { productKey: 'pkR', deviceName: 'dnR' };
  const push = (body: unknown) => Buffer.from(JSON.stringify(body));

  it('takes the documented regnwl result {clientId, deviceToken} for the device that asked', () => {
    assert.deepEqual(parseRegistrationResult('regnwl', push({ clientId: 'c', deviceToken: 't' }), asked), {
      productKey: 'pkR',
      deviceName: 'dnR',
      clientId: 'c',
      deviceToken: 't',
    });
  });

  it('takes a register result with its own identity, refuses one without the secret or not JSON', () => {
    assert.deepEqual(parseRegistrationResult('register', push({ ...asked, deviceSecret: 's' }), asked), {
      ...asked,
      deviceSecret: 's',
    });
    assert.equal(parseRegistrationResult('register', push(asked), asked), undefined);
    assert.equal(parseRegistrationResult('regnwl', push({ clientId: 'c' }), asked), undefined);
    assert.equal(parseRegistrationResult('register', Buffer.from('nope'), asked), undefined);
  });
});
