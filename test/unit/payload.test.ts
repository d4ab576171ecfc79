// Payloads: encoded for MQTT from any msg.payload, decoded as JSON, text, bytes or base64.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePayload, encodePayload } from '../../nodes/lib/payload';

describe('payloads', () => {
  it('encodes Buffers as is, strings as UTF-8 and the rest as JSON', () => {
    const buf = Buffer.from([1, 2]);
    assert.equal(encodePayload(buf), buf);
    assert.equal(encodePayload('温度')?.toString('utf8'), '温度');
    assert.equal(encodePayload({ a: 1 })?.toString(), '{"a":1}');
    assert.equal(encodePayload(0)?.toString(), '0');
    assert.equal(encodePayload(false)?.toString(), 'false');
    assert.equal(encodePayload(null)?.toString(), 'null');
    assert.equal(encodePayload(undefined), undefined);
    assert.equal(
      encodePayload(() => 1),
      undefined,
    );
  });
  it('decodes auto as JSON objects, text or bytes', () => {
    assert.deepEqual(decodePayload(Buffer.from('{"a":1}'), 'auto'), { ok: true, value: { a: 1 } });
    assert.deepEqual(decodePayload(Buffer.from('[1]'), 'auto'), { ok: true, value: [1] });
    assert.deepEqual(decodePayload(Buffer.from('42'), 'auto'), { ok: true, value: '42' });
    assert.deepEqual(decodePayload(Buffer.from('{oops'), 'auto'), { ok: true, value: '{oops' });
    const bytes = Buffer.from([0xff, 0xfe]);
    assert.deepEqual(decodePayload(bytes, 'auto'), { ok: true, value: bytes });
    assert.deepEqual(decodePayload(Buffer.from('x'), 'json'), { ok: false });
    assert.deepEqual(decodePayload(Buffer.from('42'), 'json'), { ok: true, value: 42 });
    assert.deepEqual(decodePayload(Buffer.from('hi'), 'base64'), { ok: true, value: 'aGk=' });
  });
});
