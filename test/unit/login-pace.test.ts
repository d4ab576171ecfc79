// The process-wide login pace (nodes/lib/login-pace.ts) on a fake clock, and a connection's
// `queued` phase with it: logins spread at the rate, in arrival order, with no one-second window
// over 1.01 x the rate, a closed connection leaving the line, and a pace that keeps going while the
// event loop is held (a deploy creating thousands of nodes fires no timer).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DEFAULT_BACKOFF } from '../../nodes/lib/backoff';
import { DeviceConnection } from '../../nodes/lib/connection';
import { SharedPace } from '../../nodes/lib/pacer';
import { deviceOptions } from '../helpers/device-options';
import { fakeConnect } from '../helpers/fake-mqtt';

function clock(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  return { now: () => Date.now(), tick: (ms: number) => t.mock.timers.tick(ms) };
}

describe('the login pace (SharedPace)', () => {
  it('lets a hundredth of a second of logins through at once, then the rate, in arrival order', (t) => {
    const { now, tick } = clock(t);
    const pace = new SharedPace(1000, now);
    const order: number[] = [];
    let atOnce = 0;
    for (let i = 0; i < 2500; i++) if (pace.admit(() => order.push(i))) atOnce++;
    assert.equal(atOnce, 10, 'the saved-up hundredth of a second');
    assert.equal(pace.waiting, 2490);
    const perSecond: number[] = [];
    for (let s = 0; s < 3; s++) {
      const before = order.length;
      for (let ms = 0; ms < 1000; ms++) tick(1);
      perSecond.push(order.length - before);
    }
    assert.deepEqual(
      order,
      Array.from({ length: 2490 }, (_, i) => i + 10),
      'in arrival order',
    );
    assert.ok(perSecond[0]! >= 990 && perSecond[0]! <= 1010, `the rate, no more: ${perSecond.join(', ')}`);
    assert.deepEqual(perSecond.slice(1), [1000, 490]);
    assert.equal(pace.waiting, 0);
    assert.equal(pace.admitted, 2500);
  });

  it('a login that leaves the line is never called; rate 0 lets everything through at once', (t) => {
    const { now, tick } = clock(t);
    const pace = new SharedPace(10, now);
    assert.equal(
      pace.admit(() => undefined),
      true,
    );
    const called: string[] = [];
    const a = () => called.push('a');
    const b = () => called.push('b');
    assert.equal(pace.admit(a), false);
    assert.equal(pace.admit(b), false);
    pace.leave(a);
    tick(1000);
    assert.deepEqual(called, ['b']);
    const c = () => called.push('c');
    pace.admit(() => undefined);
    pace.admit(c);
    pace.configure(0);
    assert.deepEqual(called, ['b', 'c'], 'switching the pace off lets the line through');
    for (let i = 0; i < 1000; i++)
      assert.equal(
        pace.admit(() => undefined),
        true,
      );
  });

  it('keeps the pace while no timer can fire: admissions let those waiting through by the clock', (t) => {
    const { now } = clock(t);
    let time = 0;
    const pace = new SharedPace(1000, () => now() + time);
    const order: number[] = [];
    // 5,000 logins asked for over 2 s of a held event loop (the clock moves, no timer fires).
    for (let i = 0; i < 5000; i++) {
      time = (i * 2000) / 5000;
      if (pace.admit(() => order.push(i))) order.push(i);
    }
    // 10 saved up plus 2,000 earned in the 2 s; none out of order.
    assert.ok(order.length >= 2000 && order.length <= 2011, `${order.length} through`);
    assert.deepEqual(
      order,
      [...order].sort((x, y) => x - y),
    );
  });
});

describe('connection queued for the login pace', () => {
  const options = () => deviceOptions({ productKey: 'pkUnit', deviceName: 'paced', deviceSecret: 'unit-secret' });

  it('reports connecting while queued, dials on its turn; closed while queued it never dials', async (t) => {
    const { now, tick } = clock(t);
    const pace = new SharedPace(1, now);
    const fake = fakeConnect();
    const tuning = { backoff: { ...DEFAULT_BACKOFF, jitter: 0 }, connect: fake.connect, loginPace: pace };
    const first = new DeviceConnection(options(), tuning);
    const second = new DeviceConnection({ ...options(), deviceName: 'paced-2' }, tuning);
    const third = new DeviceConnection({ ...options(), deviceName: 'paced-3' }, tuning);
    first.connect();
    second.connect();
    third.connect();
    assert.equal(fake.clients.length, 1, 'one login now, two in line');
    assert.equal(second.state, 'connecting');
    assert.equal(pace.waiting, 2);
    // reconnect() while queued keeps the place (no second attempt, no dial).
    second.reconnect();
    assert.equal(pace.waiting, 2);
    await third.close();
    assert.equal(third.state, 'closed');
    assert.equal(pace.waiting, 1, 'the closed connection left the line');
    tick(1000);
    assert.equal(fake.clients.length, 2, 'the second dials on its turn');
    fake.clients[1]!.accept();
    assert.equal(second.state, 'connected');
    tick(5000);
    assert.equal(fake.clients.length, 2, 'the closed one never dialed');
    await Promise.all([first.close(), second.close()]);
  });

  it('a dial mqtt.js refuses at once, on its turn in line, is a failed attempt: reported, retried', async (t) => {
    const { now, tick } = clock(t);
    const pace = new SharedPace(1, now);
    const fake = fakeConnect();
    let refuse = true;
    const connect = ((o: Parameters<typeof fake.connect>[0]) => {
      // What mqtt.js does for a WebSocket URL it cannot build.
      if (refuse) throw new SyntaxError('Invalid URL: ws://a|b:80/mqtt');
      return fake.connect(o);
    }) as typeof fake.connect;
    const tuning = { backoff: { ...DEFAULT_BACKOFF, jitter: 0 }, connect: fake.connect, loginPace: pace };
    const first = new DeviceConnection(options(), tuning);
    const second = new DeviceConnection({ ...options(), deviceName: 'paced-2' }, { ...tuning, connect });
    first.connect();
    second.connect();
    assert.equal(pace.waiting, 1, 'the second waits in line');
    tick(1000);
    assert.equal(second.state, 'disconnected', 'not left queued');
    assert.match(second.status.reason ?? '', /Invalid URL/);
    assert.equal(second.status.nextRetryMs, 1000);
    refuse = false;
    tick(1000);
    tick(1000);
    assert.equal(fake.clients.length, 2, 'the retry dials');
    fake.clients[1]!.accept();
    assert.equal(second.state, 'connected');
    await Promise.all([first.close(), second.close()]);
  });
});
