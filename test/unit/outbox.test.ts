// The outbox: the bounded queue of outgoing messages, each settled exactly once, requeued in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Outbox } from '../../nodes/lib/outbox';

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
