import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import vectors from '../fixtures/signing.json';
import { signAuth, signContent, signMqtt, signRegister, SIGN_METHODS, type SignMethod } from '../../nodes/lib/index';

function same(actual: string, expected: string): void {
  assert.equal(actual.toUpperCase(), expected.toUpperCase());
}

describe('golden vectors (shared/vectors/signing.json)', () => {
  for (const v of vectors.mqtt) {
    it(`MQTT: ${v.name}`, () => {
      const securemode = v.mqttClientId ? /securemode=(\d+)/.exec(v.mqttClientId)![1] : 3;
      const creds = signMqtt({
        ...v.params,
        deviceSecret: v.deviceSecret,
        signmethod: v.signmethod as SignMethod,
        securemode,
      });
      same(creds.password, v.password);
      if (v.mqttClientId) assert.equal(creds.clientId, v.mqttClientId);
      if (v.username) assert.equal(creds.username, v.username);
      assert.equal(signContent(v.params), v.content);
    });
  }
  for (const v of vectors.httpsAuth) {
    it(`HTTPS auth: ${v.name}`, () => {
      const form = signAuth({ ...v.params, deviceSecret: v.deviceSecret, signmethod: v.signmethod as SignMethod });
      same(form.sign, v.sign);
      assert.equal(form.signmethod, v.signmethod);
      assert.equal(form.timestamp, v.params.timestamp);
    });
  }
  for (const v of vectors.dynamicRegister) {
    it(`registration: ${v.name}`, () => {
      const form = signRegister({
        ...v.params,
        productSecret: v.productSecret,
        signmethod: v.signmethod as SignMethod,
      });
      same(form.sign, v.sign);
      assert.equal(form.signMethod, v.signmethod);
      assert.equal(form.random, v.params.random);
    });
  }
});

describe('signMqtt', () => {
  const base = { productKey: 'pk', deviceName: 'dev', deviceSecret: 's3cret' };

  it('defaults to hmacsha256, securemode 2 and clientId pk.dn, and leaves a missing timestamp out', () => {
    const creds = signMqtt(base);
    assert.equal(creds.clientId, 'pk.dev|securemode=2,signmethod=hmacsha256|');
    assert.equal(creds.username, 'dev&pk');
    assert.match(creds.password, /^[0-9a-f]{64}$/);
    const withTs = signMqtt({ ...base, timestamp: 1 });
    assert.notEqual(withTs.password, creds.password);
  });

  it('appends extra ext keys after the signed ones, without signing them', () => {
    const creds = signMqtt({ ...base, securemode: 3, ext: { _v: 'sdk-1.0', lan: 'NODE' } });
    assert.equal(creds.clientId, 'pk.dev|securemode=3,signmethod=hmacsha256,_v=sdk-1.0,lan=NODE|');
    assert.equal(creds.password, signMqtt({ ...base, securemode: 3 }).password);
  });

  it('refuses ext entries that would break the clientId', () => {
    assert.throws(() => signMqtt({ ...base, ext: { a: 'x,y' } }), TypeError);
    assert.throws(() => signMqtt({ ...base, ext: { 'a|b': 'x' } }), TypeError);
  });

  it('signs with each method at its digest length', () => {
    const lengths: Record<SignMethod, number> = { hmacmd5: 32, hmacsha1: 40, hmacsha256: 64 };
    for (const signmethod of SIGN_METHODS) {
      assert.equal(signMqtt({ ...base, signmethod }).password.length, lengths[signmethod]);
    }
  });
});

describe('signing properties', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/);
  const method = fc.constantFrom(...SIGN_METHODS);
  const input = fc.record({
    productKey: token,
    deviceName: token,
    deviceSecret: fc.string({ minLength: 1, maxLength: 40 }),
    clientId: token,
    timestamp: fc.option(fc.integer({ min: 0, max: 2 ** 45 }).map(String), { nil: undefined }),
    signmethod: method,
  });

  it('content is ordered by key name whatever the input order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), token), (params) => {
        const keys = Object.keys(params);
        const reversed = Object.fromEntries(keys.reverse().map((k) => [k, params[k]]));
        const expected = Object.keys(params)
          .sort()
          .map((k) => `${k}${params[k]}`)
          .join('');
        assert.equal(signContent(reversed), expected);
        assert.equal(signContent(params), expected);
      }),
    );
  });

  it('the ext carries exactly the clientId and timestamp that were signed', () => {
    fc.assert(
      fc.property(input, (i) => {
        const creds = signMqtt(i);
        const [clientId, ext, tail] = creds.clientId.split('|');
        assert.equal(clientId, i.clientId);
        assert.equal(tail, '');
        const fields = Object.fromEntries(ext!.split(',').map((kv) => kv.split('='))) as Record<string, string>;
        assert.equal(fields.timestamp, i.timestamp);
        assert.equal(fields.signmethod, i.signmethod);
        const content = signContent({ ...i, deviceSecret: undefined, signmethod: undefined });
        assert.equal(content.includes(`timestamp${i.timestamp}`), i.timestamp !== undefined);
      }),
    );
  });

  it('a changed secret, clientId, timestamp or method changes the password', () => {
    const change = fc.constantFrom('deviceSecret', 'clientId', 'timestamp', 'signmethod');
    fc.assert(
      fc.property(input, change, (i, field) => {
        const before = signMqtt(i).password;
        const changed = { ...i };
        if (field === 'signmethod') changed.signmethod = i.signmethod === 'hmacmd5' ? 'hmacsha1' : 'hmacmd5';
        else if (field === 'timestamp') changed.timestamp = `${i.timestamp ?? ''}1`;
        else changed[field] = `${i[field]}x`;
        assert.notEqual(signMqtt(changed).password, before);
      }),
    );
  });
});
