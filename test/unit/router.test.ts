// The router: incoming messages dispatched to subscribers by MQTT filter, one subscription per filter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Router, type Subscriber } from '../../nodes/lib/router';

describe('router', () => {
  const sub = (filter: string, qos: 0 | 1, into: string[]): Subscriber => ({
    filter,
    qos,
    deliver: ({ topic }) => into.push(`${filter} <- ${topic}`),
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

  it('reports a subscriber that throws and still delivers to the others', () => {
    const router = new Router();
    const got: string[] = [];
    router.add({
      filter: '/pk/dn/user/#',
      qos: 0,
      deliver: () => {
        throw new Error('flow broke');
      },
    });
    router.add(sub('/pk/dn/user/+', 0, got));
    const failures: unknown[] = [];
    assert.equal(
      router.dispatch('/pk/dn/user/a', Buffer.alloc(0), { qos: 0, retain: false }, (e) => failures.push(e)),
      2,
    );
    assert.deepEqual(got, ['/pk/dn/user/+ <- /pk/dn/user/a']);
    assert.equal((failures[0] as Error).message, 'flow broke');
    assert.throws(() => router.dispatch('/pk/dn/user/b', Buffer.alloc(0), { qos: 0, retain: false }), /flow broke/);
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

  it('keeps exact filters out of the trie: none is made until a wildcard filter comes', () => {
    const router = new Router();
    const got: string[] = [];
    const lifecycle = ['disable', 'enable', 'delete'].map((n) => sub(`/sys/pk/dn/thing/${n}`, 0, got));
    for (const s of lifecycle) router.add(s);
    const exact = sub('/pk/dn/user/get', 1, got);
    router.add(exact);
    assert.equal((router as unknown as { trie?: unknown }).trie, undefined, 'no trie for exact filters');
    assert.equal(router.dispatch('/sys/pk/dn/thing/disable', Buffer.alloc(0), { qos: 0, retain: false }), 1);
    router.add(sub('/pk/dn/user/+', 0, got));
    assert.equal(router.dispatch('/pk/dn/user/get', Buffer.alloc(0), { qos: 0, retain: false }), 2, 'both, once each');
    router.remove(exact);
    assert.equal(router.dispatch('/pk/dn/user/get', Buffer.alloc(0), { qos: 0, retain: false }), 1);
    assert.deepEqual(got, [
      '/sys/pk/dn/thing/disable <- /sys/pk/dn/thing/disable',
      '/pk/dn/user/get <- /pk/dn/user/get',
      '/pk/dn/user/+ <- /pk/dn/user/get',
      '/pk/dn/user/+ <- /pk/dn/user/get',
    ]);
  });

  it('hands every subscriber the same delivery, and a removal mid-dispatch does not disturb the walk', () => {
    const router = new Router();
    const seen: object[] = [];
    const second = sub('/pk/dn/user/get', 0, []);
    const first: Subscriber = {
      filter: '/pk/dn/user/get',
      qos: 0,
      deliver: (delivery) => {
        seen.push(delivery);
        router.remove(second);
        router.remove(first);
      },
    };
    const third: Subscriber = { filter: '/pk/dn/user/get', qos: 0, deliver: (delivery) => seen.push(delivery) };
    for (const s of [first, second, third]) router.add(s);
    assert.equal(router.dispatch('/pk/dn/user/get', Buffer.from('x'), { qos: 1, retain: false }), 3);
    assert.equal(seen.length, 2);
    assert.equal(seen[0], seen[1], 'one delivery object per message');
    assert.deepEqual(seen[0], { topic: '/pk/dn/user/get', payload: Buffer.from('x'), qos: 1, retain: false });
    assert.deepEqual(router.subscribersOf('/pk/dn/user/get'), [third], 'removed for the next message');
  });
});
