// Alink pieces: ids in the allowed range and unique, replies parsed strictly, the pending table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlinkIds, checkProperties, MAX_ALINK_ID, parseReply, PendingReplies, replyError } from '../../nodes/lib/alink';

describe('alink', () => {
  it('ids are decimal strings inside 0..4294967295 and wrap to 0', () => {
    const ids = new AlinkIds(() => 0.9999999999);
    const seen = Array.from({ length: 5 }, () => ids.next());
    assert.ok(seen.includes('0') && seen.includes(String(MAX_ALINK_ID)), seen.join(','));
    for (const id of seen) assert.match(id, /^\d+$/);
    assert.equal(new Set(seen).size, 5);
  });

  it('parses replies; anything without an id and an integer code is not one', () => {
    assert.deepEqual(parseReply('{"id":"7","code":200,"data":{"a":1},"message":"success"}'), {
      id: '7',
      code: 200,
      message: 'success',
      data: { a: 1 },
    });
    assert.equal(parseReply('{"id":7,"code":"6106"}')?.code, 6106);
    for (const bad of ['', 'null', '[]', '{"code":200}', '{"id":"1","code":"x"}', '{"id":{},"code":200}'])
      assert.equal(parseReply(bad), undefined, bad);
    assert.equal(replyError({ id: '1', code: 200, message: '', data: {} }), undefined);
    assert.equal(replyError({ id: '1', code: 6106, message: 'too many', data: {} })?.platformCode, 6106);
  });

  it('property params: a non-empty object of at most 200', () => {
    assert.equal(checkProperties({ a: 1 }), undefined);
    assert.equal(checkProperties([])?.code, 'PROPERTIES_INVALID');
    assert.equal(checkProperties({})?.code, 'PROPERTIES_INVALID');
    assert.equal(checkProperties(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, i]))), undefined);
    assert.equal(
      checkProperties(Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`p${i}`, i])))?.code,
      'PROPERTIES_TOO_MANY',
    );
  });

  it('pending replies: matched by id, deadline only once armed, late replies ignored', async () => {
    const pending = new PendingReplies();
    const a = pending.expect('1');
    const b = pending.expect('2');
    assert.equal(pending.settle({ id: '2', code: 200, message: '', data: {} }), true);
    assert.equal((await b).id, '2');
    pending.arm('1', 20);
    await assert.rejects(a, { code: 'REPLY_TIMEOUT' });
    assert.equal(pending.settle({ id: '1', code: 200, message: '', data: {} }), false, 'late reply');
    const c = pending.expect('3');
    pending.failAll(new Error('closed'));
    await assert.rejects(c, /closed/);
    assert.equal(pending.size, 0);
  });
});
