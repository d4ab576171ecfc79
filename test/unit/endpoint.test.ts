import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { resolveEndpoint, TRANSPORTS, type EndpointInput, type Transport } from '../../nodes/lib/index';

const kinds: Record<string, Omit<EndpointInput, 'transport'> & { host: string }> = {
  public: {
    endpoint: 'public',
    productKey: 'a1B2c3',
    regionId: 'ap-southeast-1',
    host: 'a1B2c3.iot-as-mqtt.ap-southeast-1.aliyuncs.com',
  },
  instance: { endpoint: 'instance', instanceId: 'iot-06z00abcd', host: 'iot-06z00abcd.mqtt.iothub.aliyuncs.com' },
  custom: { endpoint: 'custom', host: '127.0.0.1' },
};
const expected: Record<Transport, { scheme: string; port: number; securemode: number; path: string }> = {
  tcp: { scheme: 'mqtt', port: 1883, securemode: 3, path: '' },
  tls: { scheme: 'mqtts', port: 8883, securemode: 2, path: '' },
  ws: { scheme: 'ws', port: 443, securemode: 3, path: '/mqtt' },
  wss: { scheme: 'wss', port: 443, securemode: 2, path: '/mqtt' },
};
const bundled = ['aliyun-iot-root-ca.pem', 'globalsign-root-ca-r1.pem'].map((f) =>
  readFileSync(join(__dirname, '..', '..', 'certs', f), 'utf8'),
);

describe('resolveEndpoint', () => {
  for (const [kind, input] of Object.entries(kinds)) {
    for (const transport of TRANSPORTS) {
      it(`${kind} over ${transport}`, () => {
        const want = expected[transport];
        const r = resolveEndpoint({ ...input, host: kind === 'custom' ? input.host : undefined, transport });
        assert.equal(r.host, input.host);
        assert.equal(r.port, want.port);
        assert.equal(r.securemode, want.securemode);
        assert.equal(r.url, `${want.scheme}://${input.host}:${want.port}${want.path}`);
        if (want.securemode === 2) {
          assert.ok(r.ca, 'secure transports carry a CA list');
          for (const pem of bundled) assert.ok(r.ca.includes(pem), 'bundled platform roots are trusted');
          assert.equal(r.ca.length, bundled.length + rootCertificates.length, "plus Node's own roots");
        } else {
          assert.equal(r.ca, undefined);
        }
      });
    }
  }

  it('takes a user port, e.g. 1883 for TLS on the legacy root', () => {
    assert.equal(
      resolveEndpoint({ ...kinds.public!, host: undefined, transport: 'tls', port: '1883' }).url.endsWith(':1883'),
      true,
    );
    assert.equal(resolveEndpoint({ endpoint: 'custom', host: 'h', transport: 'tcp', port: 11883 }).port, 11883);
  });

  it("trusts the user's PEM instead of the bundled and Node roots", () => {
    const r = resolveEndpoint({ endpoint: 'custom', host: 'h', transport: 'tls', ca: `junk\n${bundled[1]!}\n` });
    assert.deepEqual(r.ca, [bundled[1]!.trim()]);
  });

  it('brackets an IPv6 host in the URL', () => {
    assert.equal(resolveEndpoint({ endpoint: 'custom', host: '::1', transport: 'tcp' }).url, 'mqtt://[::1]:1883');
  });

  it('shares one frozen default CA list between connections', () => {
    const a = resolveEndpoint({ endpoint: 'custom', host: 'a', transport: 'tls' });
    const b = resolveEndpoint({ endpoint: 'custom', host: 'b', transport: 'wss' });
    assert.equal(a.ca, b.ca);
    assert.ok(Object.isFrozen(a.ca) && Object.isFrozen(a));
  });

  it('refuses an unknown kind or transport', () => {
    assert.throws(() => resolveEndpoint({ endpoint: 'x' as 'custom', host: 'h', transport: 'tls' }), TypeError);
    assert.throws(() => resolveEndpoint({ endpoint: 'custom', host: 'h', transport: 'quic' as 'tls' }), TypeError);
  });
});
