// The pure core pieces under the connection: backoff, topics, payloads, router, outbox.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BACKOFF, retryDelay } from '../../nodes/lib/backoff';
import { Outbox } from '../../nodes/lib/outbox';
import { decodePayload, encodePayload } from '../../nodes/lib/payload';
import { Router, type Subscriber } from '../../nodes/lib/router';
import { checkFilter, checkPublishTopic, expandTopic } from '../../nodes/lib/topic';

describe('backoff', () => {
  it('doubles from about 1 s to 60 s, with jitter taking at most half', () => {
    const low = (n: number) => retryDelay(n, false, DEFAULT_BACKOFF, () => 1);
    const high = (n: number) => retryDelay(n, false, DEFAULT_BACKOFF, () => 0);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(high), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    assert.equal(low(1), 500);
    assert.equal(high(1000), 60_000);
  });
  it('refused logins wait minutes: never less than 60 s, up to 15 min', () => {
    for (let n = 1; n < 50; n++) {
      const min = retryDelay(n, true, DEFAULT_BACKOFF, () => 1);
      const max = retryDelay(n, true, DEFAULT_BACKOFF, () => 0);
      assert.ok(min >= 60_000 && max <= 15 * 60_000, `${n}: ${min}..${max}`);
    }
  });
});

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
});

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

describe('router', () => {
  const sub = (filter: string, qos: 0 | 1, into: string[]): Subscriber => ({
    filter,
    qos,
    deliver: (topic) => into.push(`${filter} <- ${topic}`),
  });

  it('dispatches a message once to every matching subscriber, with MQTT wildcard rules', () => {
    const router = new Router();
    const got: string[] = [];
    for (const f of ['/pk/dn/user/#', '/pk/dn/user/+/temp', '/pk/dn/user/a/temp', '/pk/dn/+'])
      router.add(sub(f, 0, got));
    assert.equal(router.dispatch('/pk/dn/user/a/temp', Buffer.alloc(0), { qos: 0, retain: false }), 3);
    assert.equal(
      router.dispatch('/pk/dn/user', Buffer.alloc(0), { qos: 0, retain: false }),
      2,
      '# matches its parent level, + one level',
    );
    assert.equal(router.dispatch('/pk/dn/other/x', Buffer.alloc(0), { qos: 0, retain: false }), 0);
    assert.equal(got.length, 5);
  });

  it('keeps one subscription per filter at the highest QoS, and knows when a filter is unwanted', () => {
    const router = new Router();
    const a = sub('/x', 0, []);
    const b = sub('/x', 1, []);
    assert.equal(router.add(a), 0, 'new filter: subscribe at QoS 0');
    assert.equal(router.add(b), 1, 'raised to QoS 1');
    assert.equal(router.add(sub('/x', 0, [])), undefined, 'unchanged');
    assert.deepEqual(router.subscriptions(), { '/x': { qos: 1 } });
    assert.equal(router.remove(a), false);
    assert.equal(router.remove(a), false, 'removing twice is harmless');
    assert.equal(router.remove(b), false);
    assert.equal(router.remove(router.subscribersOf('/x')[0]!), true, 'last one gone');
    assert.equal(router.drop('/x'), true);
    assert.deepEqual(router.subscriptions(), {});
  });

  it('costs one trie walk per message whatever the number of subscribers', () => {
    const router = new Router();
    const got: string[] = [];
    for (let i = 0; i < 500; i++) router.add(sub(`/pk/dn/user/s${i}`, 0, got));
    router.add(sub('/pk/dn/user/s7', 0, got));
    router.add(sub('/pk/dn/user/+', 0, got));
    const trie = (router as unknown as { trie: { match(topic: string): unknown[] } }).trie;
    const match = trie.match.bind(trie);
    let walks = 0;
    trie.match = (topic) => (walks++, match(topic));
    assert.equal(router.dispatch('/pk/dn/user/s7', Buffer.alloc(0), { qos: 0, retain: false }), 3);
    assert.equal(got.length, 3);
    assert.equal(walks, 1, 'one walk for three subscribers of two filters among 502');
  });
});

describe('outbox', () => {
  it('bounds the queue when offered, settles each message exactly once, requeues in order', () => {
    const outbox = new Outbox(2);
    const results: string[] = [];
    const make = (name: string, qos: 0 | 1) =>
      outbox.create(`/t/${name}`, Buffer.from(name), qos, (err) =>
        results.push(`${name}:${err ? (err as Error & { code: string }).code : 'ok'}`),
      );
    const [m1, m2, m3] = [make('a', 1), make('b', 1), make('c', 1)];
    outbox.enqueue(m1);
    outbox.enqueue(m2);
    outbox.enqueue(m3);
    assert.deepEqual(results, ['c:QUEUE_FULL']);
    const drain = () => Array.from({ length: outbox.queued }, () => outbox.shift()!);
    const drained = drain();
    assert.deepEqual(
      drained.map((m) => m.topic),
      ['/t/a', '/t/b'],
    );
    for (const m of drained) outbox.markSent(m);
    outbox.settle(m1);
    outbox.settle(m1);
    outbox.requeueInflight();
    assert.equal(outbox.queued, 1);
    const again = drain();
    assert.deepEqual(
      again.map((m) => m.topic),
      ['/t/b'],
    );
    outbox.markSent(again[0]!);
    assert.equal(outbox.resent, 1);
    outbox.failAll(new Error('closed'));
    assert.deepEqual(results, ['c:QUEUE_FULL', 'a:ok', 'b:undefined']);
  });

  it('requeues single messages failed by a teardown at their place by age, in any callback order', () => {
    const outbox = new Outbox(10);
    const made = ['a', 'b', 'c', 'd', 'e'].map((n) => outbox.create(`/t/${n}`, n, 1, () => undefined));
    for (const m of made.slice(0, 3)) outbox.markSent(m);
    for (const m of made.slice(3)) outbox.enqueue(m);
    // mqtt.js flushes by message id, which wraps: the order of the callbacks is not the order sent.
    outbox.requeue(made[2]!);
    outbox.requeue(made[0]!);
    outbox.requeue(made[0]!);
    outbox.requeue(made[1]!);
    assert.equal(outbox.inflight, 0);
    assert.deepEqual(
      Array.from({ length: outbox.queued }, () => outbox.shift()!.topic),
      ['/t/a', '/t/b', '/t/c', '/t/d', '/t/e'],
    );
  });

  it('with size 0 fails at once', () => {
    const outbox = new Outbox(0);
    let code = '';
    outbox.enqueue(outbox.create('/t', Buffer.alloc(0), 0, (err) => (code = (err as Error & { code: string }).code)));
    assert.equal(code, 'NOT_CONNECTED');
  });
});
