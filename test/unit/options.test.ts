import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  messageFor,
  OPTION_ERROR_CODES,
  validateDeviceOptions,
  validateQos,
  type RawDeviceOptions,
} from '../../nodes/lib/index';

const valid = { productKey: 'a1B2c3D4e5F', deviceName: 'lamp-01', deviceSecret: 'secret' };

function codes(raw: RawDeviceOptions): string[] {
  return validateDeviceOptions({ ...valid, ...raw }).errors.map((e) => e.code);
}

describe('validateDeviceOptions', () => {
  it('fills defaults into one frozen, typed object', () => {
    const r = validateDeviceOptions(valid);
    assert.ok(r.ok);
    assert.ok(Object.isFrozen(r.options));
    assert.deepEqual(
      { ...r.options },
      {
        name: '',
        ...valid,
        authMode: 'sign',
        registerVia: 'https',
        registerKind: 'preregistered',
        productSecret: '',
        gateway: '',
        authHost: '',
        endpoint: 'public',
        regionId: 'cn-shanghai',
        instanceId: '',
        host: '',
        port: undefined,
        transport: 'tls',
        signmethod: 'hmacsha256',
        clientId: 'a1B2c3D4e5F.lamp-01',
        keepalive: 300,
        cleanSession: true,
        autoConnect: true,
        queueSize: 1000,
        rateLimit: 30,
        gatewayRateLimit: 0,
        persistQueue: false,
        ca: '',
        servername: '',
        rejectUnauthorized: true,
        extRrpc: false,
      },
    );
  });

  it('reads the strings a flow stores', () => {
    const r = validateDeviceOptions({
      ...valid,
      keepalive: '60',
      port: '1883',
      cleanSession: 'false',
      rejectUnauthorized: false,
    });
    assert.ok(r.ok);
    assert.equal(r.options.keepalive, 60);
    assert.equal(r.options.port, 1883);
    assert.equal(r.options.cleanSession, false);
    assert.equal(r.options.rejectUnauthorized, false);
  });

  it('reports each missing part of the triple', () => {
    assert.deepEqual(
      validateDeviceOptions({}).errors.map((e) => [e.field, e.code]),
      [
        ['productKey', 'PRODUCT_KEY_MISSING'],
        ['deviceName', 'DEVICE_NAME_MISSING'],
        ['deviceSecret', 'DEVICE_SECRET_MISSING'],
      ],
    );
  });

  it('keepalive: 29 and 1201 refused, 30 and 1200 accepted, non-integers refused', () => {
    assert.deepEqual(codes({ keepalive: 29 }), ['KEEPALIVE_RANGE']);
    assert.deepEqual(codes({ keepalive: 30 }), []);
    assert.deepEqual(codes({ keepalive: '1200' }), []);
    assert.deepEqual(codes({ keepalive: 1201 }), ['KEEPALIVE_RANGE']);
    assert.deepEqual(codes({ keepalive: 30.5 }), ['KEEPALIVE_NOT_INTEGER']);
    assert.deepEqual(codes({ keepalive: 'abc' }), ['KEEPALIVE_NOT_INTEGER']);
  });

  it('clientId: 64 characters accepted, 65 refused; | , = and control characters refused', () => {
    assert.deepEqual(codes({ clientId: 'c'.repeat(64) }), []);
    assert.deepEqual(codes({ clientId: 'c'.repeat(65) }), ['CLIENT_ID_TOO_LONG']);
    for (const bad of ['a|b', 'a,b', 'a=b', 'a\u0001b', 'a\u007fb'])
      assert.deepEqual(codes({ clientId: bad }), ['CLIENT_ID_CHARS']);
  });

  it('deviceName: 32 characters accepted, 33 refused', () => {
    assert.deepEqual(codes({ deviceName: 'd'.repeat(32) }), []);
    assert.deepEqual(codes({ deviceName: 'd'.repeat(33), clientId: 'x' }), ['DEVICE_NAME_TOO_LONG']);
    assert.deepEqual(codes({ deviceName: 'a/b' }), ['DEVICE_NAME_CHARS']);
  });

  it('port: 0 and 65536 refused, 1 and 65535 accepted, blank is the default', () => {
    assert.deepEqual(codes({ port: 0 }), ['PORT_RANGE']);
    assert.deepEqual(codes({ port: 1 }), []);
    assert.deepEqual(codes({ port: 65535 }), []);
    assert.deepEqual(codes({ port: '65536' }), ['PORT_RANGE']);
    assert.deepEqual(codes({ port: '80a' }), ['PORT_NOT_INTEGER']);
    assert.deepEqual(codes({ port: '' }), []);
  });

  it('queue size and rate limit: -1 refused, 0 (none) accepted', () => {
    assert.deepEqual(codes({ queueSize: 0 }), []);
    assert.deepEqual(codes({ rateLimit: 0 }), []);
    assert.deepEqual(codes({ keepalive: {}, port: [1883] }), ['PORT_NOT_INTEGER', 'KEEPALIVE_NOT_INTEGER']);
    assert.deepEqual(codes({ rateLimit: 1001 }), ['RATE_LIMIT_RANGE']);
    assert.deepEqual(codes({ rateLimit: '2.5' }), ['RATE_LIMIT_NOT_INTEGER']);
    assert.deepEqual(codes({ queueSize: -1 }), ['QUEUE_SIZE_RANGE']);
    assert.deepEqual(codes({ gatewayRateLimit: 0 }), []);
    assert.deepEqual(codes({ gatewayRateLimit: '60000' }), []);
    assert.deepEqual(codes({ gatewayRateLimit: 100_001 }), ['GATEWAY_RATE_RANGE']);
    assert.deepEqual(codes({ gatewayRateLimit: 'fast' }), ['GATEWAY_RATE_NOT_INTEGER']);
  });

  it('endpoint kinds: region, instanceId and host checked where they apply', () => {
    assert.deepEqual(codes({ regionId: 'mars-1' }), ['REGION_UNKNOWN']);
    assert.deepEqual(codes({ endpoint: 'instance', instanceId: 'iot-06z00abcd' }), []);
    assert.deepEqual(codes({ endpoint: 'instance', instanceId: 'abc' }), ['INSTANCE_ID_INVALID']);
    assert.deepEqual(codes({ endpoint: 'instance' }), ['INSTANCE_ID_INVALID']);
    assert.deepEqual(codes({ endpoint: 'custom' }), ['HOST_MISSING']);
    assert.deepEqual(codes({ endpoint: 'custom', host: '127.0.0.1', regionId: 'mars-1' }), []);
    // A scheme, a port or a path typed into the host would fail every login: refused at once.
    for (const host of ['mqtts://x', 'broker.example.com:1883', 'x/mqtt', 'a b', 'a|b', 'user@host']) {
      assert.deepEqual(codes({ endpoint: 'custom', host }), ['HOST_INVALID'], host);
    }
    for (const host of ['broker_1.lan', 'Broker.Example.com', 'bröker.example.com', '::1', '[fe80::1]']) {
      assert.deepEqual(codes({ endpoint: 'custom', host }), [], host);
    }
    assert.deepEqual(codes({ endpoint: 'cloud' }), ['ENDPOINT_UNKNOWN']);
  });

  it('unknown transport and signmethod refused', () => {
    assert.deepEqual(codes({ transport: 'quic' }), ['TRANSPORT_UNKNOWN']);
    assert.deepEqual(codes({ signmethod: 'sha512' }), ['SIGN_METHOD_UNKNOWN']);
  });

  it('a sub-device leaves where and how to connect to its gateway, and signs its own login', () => {
    // Hidden settings a flow may still carry (a host that is not one, an odd port) are not held against it.
    const sub = validateDeviceOptions({
      productKey: 'pkSub',
      deviceName: 'meter',
      deviceSecret: 's',
      gateway: 'gw-node',
      endpoint: 'custom',
      host: '',
      port: '99999',
      clientId: 'a|b',
    });
    assert.ok(sub.ok, JSON.stringify(sub.errors));
    assert.equal(sub.options.gateway, 'gw-node');
    // Registration through the gateway: no ProductSecret, and the direct registration kinds do not apply.
    const registering = validateDeviceOptions({
      productKey: 'pkSub',
      deviceName: 'meter',
      gateway: 'gw-node',
      authMode: 'register',
      registerKind: 'registration-free',
    });
    assert.ok(registering.ok, JSON.stringify(registering.errors));
    const token = validateDeviceOptions({
      productKey: 'pkSub',
      deviceName: 'meter',
      gateway: 'gw-node',
      authMode: 'https',
    });
    assert.deepEqual(
      token.errors.map((e) => e.code),
      ['DEVICE_SECRET_MISSING', 'GATEWAY_AUTH_MODE'],
    );
    assert.equal(validateDeviceOptions({ productKey: 'pk', deviceName: 'dn', deviceSecret: 's' }).options?.gateway, '');
  });

  it('a CA that is not PEM is refused', () => {
    assert.deepEqual(codes({ ca: 'not a certificate' }), ['CA_INVALID']);
  });

  it('errors carry an en-US message with their parameters filled in', () => {
    const [error] = validateDeviceOptions({ ...valid, keepalive: 10 }).errors;
    assert.equal(error?.message, 'Keep alive must be from 30 to 1200 seconds');
    assert.equal(messageFor('KEEPALIVE_RANGE', { min: 30, max: 1200 }, 'zh-CN'), '心跳时间必须在 30 到 1200 秒之间');
  });

  it('never puts the secret into an error', () => {
    const r = validateDeviceOptions({ ...valid, deviceSecret: 'TOPSECRET', keepalive: 1, clientId: 'a|b' });
    assert.ok(!JSON.stringify(r).includes('TOPSECRET'));
  });
});

describe('validateQos', () => {
  it('accepts 0 and 1, refuses 2 and the rest', () => {
    assert.equal(validateQos(0), undefined);
    assert.equal(validateQos('1'), undefined);
    for (const bad of [2, -1, '2', 'x', null, 0.5]) assert.equal(validateQos(bad)?.code, 'QOS_INVALID');
  });

  it('refuses an object String() cannot print, without throwing (found by the fuzz test)', () => {
    const bare = Object.create(null) as object;
    assert.deepEqual(validateQos(bare)?.params, { value: '[object Object]' });
    const hostile = { toString: () => ({}) };
    assert.equal(validateQos(hostile)?.code, 'QOS_INVALID');
  });
});

describe('locales', () => {
  const load = (lang: string) =>
    (
      JSON.parse(readFileSync(join(__dirname, '..', '..', 'locales', lang, 'aliyun-iot-device.json'), 'utf8')) as {
        errors: Record<string, string>;
      }
    ).errors;

  it('every error code the core can produce has an en-US and a zh-CN message', () => {
    const used = OPTION_ERROR_CODES;
    for (const lang of ['en-US', 'zh-CN']) {
      const catalogue = load(lang);
      for (const code of used) assert.ok(catalogue[code], `${lang} lacks ${code}`);
    }
    assert.deepEqual(Object.keys(load('zh-CN')).sort(), Object.keys(load('en-US')).sort());
  });
});
