// Remote configuration's file description (fields under data or params) and the tag rules the
// platform enforces, checked before anything leaves (PLATFORM.md §15).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { configBodies, parseConfigFile } from '../../nodes/lib/remote-config';
import { isProblem, tagsToDelete, tagsToUpdate } from '../../nodes/lib/tags';

const sha = createHash('sha256').update('{}').digest('hex');

describe('remote configuration file', () => {
  const fields = {
    configId: 'c1',
    configSize: 2,
    sign: sha.toUpperCase(),
    signMethod: 'Sha256',
    url: 'https://x/c',
    getType: 'file',
  };

  it('reads the fields the platform sends, the sign in either case', () => {
    assert.deepEqual(parseConfigFile(fields), {
      configId: 'c1',
      configSize: 2,
      sign: sha,
      digest: 'sha256',
      url: 'https://x/c',
    });
  });

  it('says what is missing or wrong', () => {
    const cases: [object, RegExp][] = [
      [{ ...fields, configId: '' }, /configId/],
      [{ ...fields, configSize: 'x' }, /configSize/],
      [{ ...fields, configSize: 5 * 1024 * 1024 }, /too large/],
      [{ ...fields, signMethod: 'hmacSha1' }, /signMethod/],
      [{ ...fields, sign: 'abc' }, /sign is not/],
      [{ ...fields, url: '' }, /url/],
    ];
    for (const [f, reason] of cases) assert.match(parseConfigFile(f) as string, reason);
    assert.equal(parseConfigFile(null), 'no configuration fields');
  });

  it('asks for the product scope as a file, and answers a push with the id as it came', () => {
    assert.deepEqual(JSON.parse(configBodies.get('5')), {
      id: '5',
      version: '1.0',
      params: { configScope: 'product', getType: 'file' },
      method: 'thing.config.get',
    });
    assert.deepEqual(JSON.parse(configBodies.pushReply(123, 200)), { id: 123, code: 200, data: {} });
  });
});

describe('device tags', () => {
  it('takes {key: value} and [{attrKey, attrValue}], numbers and booleans as text', () => {
    assert.deepEqual(tagsToUpdate({ room: 'A-1', floor: 3, ok: true }), [
      { attrKey: 'room', attrValue: 'A-1' },
      { attrKey: 'floor', attrValue: '3' },
      { attrKey: 'ok', attrValue: 'true' },
    ]);
    assert.deepEqual(tagsToUpdate([{ attrKey: 'a.b#c@d%e&f*g-h_i', attrValue: '' }]), [
      { attrKey: 'a.b#c@d%e&f*g-h_i', attrValue: '' },
    ]);
  });

  it('counts a Chinese character as one: 128 fit, 129 do not', () => {
    assert.ok(!isProblem(tagsToUpdate({ k: '温'.repeat(128) })));
    assert.ok(isProblem(tagsToUpdate({ k: '温'.repeat(129) })));
  });

  it('refuses what the platform would, naming the tag', () => {
    const many = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`k${i}`, 'v']));
    const cases: [unknown, RegExp][] = [
      [{}, /give tags/],
      ['text', /give tags/],
      [many, /201 tags, at most 200/],
      [{ 'bad key': 'v' }, /bad key may hold only/],
      [{ ['k'.repeat(31)]: 'v' }, /longer than 30/],
      [{ k: { nested: 1 } }, /tag k has no text value/],
      [{ k: null }, /tag k has no text value/],
      [[{ attrValue: 'v' }], /empty/],
    ];
    for (const [input, reason] of cases) {
      const out = tagsToUpdate(input);
      assert.ok(isProblem(out), JSON.stringify(input));
      assert.equal(out.code, 'TAGS_INVALID');
      assert.match(String(out.params.reason), reason);
    }
    assert.ok(!isProblem(tagsToUpdate(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'v'])))));
  });

  it("deletes a key, a list of keys or an object's keys", () => {
    assert.deepEqual(tagsToDelete('room'), [{ attrKey: 'room' }]);
    assert.deepEqual(tagsToDelete(['a', 'b']), [{ attrKey: 'a' }, { attrKey: 'b' }]);
    assert.deepEqual(tagsToDelete({ a: 1 }), [{ attrKey: 'a' }]);
    assert.ok(isProblem(tagsToDelete([])));
    assert.ok(isProblem(tagsToDelete(['ok', 'not ok'])));
    assert.ok(isProblem(tagsToDelete(5)));
  });
});
