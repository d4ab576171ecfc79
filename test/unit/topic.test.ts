// Topics: placeholders and the relative form expanded, publish topics and filters checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFilter, checkPublishTopic, expandTopic } from '../../nodes/lib/topic';

describe('topics', () => {
  const device = { productKey: 'pk', deviceName: 'dn' };
  it('fills placeholders and expands the relative form', () => {
    assert.equal(expandTopic('user/update', device), '/pk/dn/user/update');
    assert.equal(
      expandTopic(' /sys/${productKey}/${deviceName}/thing/event/property/post ', device),
      '/sys/pk/dn/thing/event/property/post',
    );
    assert.equal(expandTopic('${deviceName}/x', device), '/pk/dn/dn/x');
    assert.equal(expandTopic('', device), '');
  });
  it('checks publish topics and filters', () => {
    assert.equal(checkPublishTopic('/pk/dn/user/x'), undefined);
    assert.equal(checkPublishTopic(''), 'TOPIC_MISSING');
    assert.equal(checkPublishTopic('/a/+/b'), 'TOPIC_WILDCARD');
    assert.equal(checkPublishTopic('/a/\u0000'), 'TOPIC_INVALID');
    assert.equal(checkPublishTopic('/a/${unknown}'), 'TOPIC_INVALID');
    for (const ok of ['/a/#', '/a/+/b', '#', '+', '/a/b']) assert.equal(checkFilter(ok), undefined, ok);
    for (const bad of ['/a/#/b', '/a/b#', '/a/+b', '/a/#x']) assert.equal(checkFilter(bad), 'FILTER_INVALID', bad);
  });

  it('refuses a topic longer than MQTT can carry (65,535 bytes of UTF-8)', () => {
    assert.equal(checkPublishTopic(`/${'x'.repeat(65_534)}`), undefined);
    assert.equal(checkPublishTopic(`/${'x'.repeat(65_535)}`), 'TOPIC_INVALID');
    // Counted in bytes: 21,846 three-byte characters are 65,538 bytes.
    assert.equal(checkPublishTopic('温'.repeat(21_846)), 'TOPIC_INVALID');
    assert.equal(checkFilter(`/${'x'.repeat(65_535)}`), 'FILTER_INVALID');
  });
});
