// The connection's pure and small parts: the retry policy, the pacer on an injected clock, and the
// disk journal (torn lines, compaction).
import assert from 'node:assert/strict';
import fs, { mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { classifyClose, type CloseFacts } from '../../nodes/lib/connection/retry-policy';
import { Uplink } from '../../nodes/lib/connection/uplink';
import { QueueJournal } from '../../nodes/lib/journal';
import { Pacer, SharedPace } from '../../nodes/lib/pacer';

const facts = (over: Partial<CloseFacts>): CloseFacts => ({
  sessionMs: undefined,
  code: undefined,
  attempt: 0,
  shortSessions: 0,
  stableSessionMs: 10_000,
  kickThreshold: 3,
  freshCredentials: () => false,
  ...over,
});

describe('retry policy', () => {
  it('a refused login with cached credentials retries now; the cache is asked once, only then', () => {
    const asked: number[] = [];
    const fresh = (code: 3 | 4 | 5) => (asked.push(code), true);
    assert.deepEqual(classifyClose(facts({ code: 3, message: 'Connection refused', freshCredentials: fresh })), {
      next: 'retry-now',
      cause: { state: 'reconnecting', reason: 'Connection refused', code: 3 },
    });
    assert.deepEqual(asked, [3]);
    classifyClose(facts({ code: 3, sessionMs: 5, freshCredentials: fresh }));
    classifyClose(facts({ code: 'ECONNRESET', freshCredentials: fresh }));
    assert.deepEqual(asked, [3], 'not for a session that was up, nor for a network error');
  });

  it('a refused login otherwise backs off as an auth failure', () => {
    assert.deepEqual(classifyClose(facts({ code: 5, attempt: 2 })), {
      next: 'backoff',
      cause: { state: 'auth-failed', reason: 'connection failed', code: 5 },
      authFailed: true,
      attempt: 3,
      shortSessions: 0,
    });
  });

  it('a stable session starts the backoff over; short ones count towards kicked', () => {
    assert.deepEqual(classifyClose(facts({ sessionMs: 10_000, attempt: 7, shortSessions: 2 })), {
      next: 'backoff',
      cause: { state: 'disconnected', reason: 'connection lost', code: undefined },
      authFailed: false,
      attempt: 1,
      shortSessions: 0,
    });
    const third = classifyClose(facts({ sessionMs: 9_999, attempt: 2, shortSessions: 2 }));
    assert.equal(third.next === 'backoff' && third.cause.state, 'kicked');
    const never = classifyClose(facts({ sessionMs: undefined, shortSessions: 2 }));
    assert.equal(never.next === 'backoff' && never.cause.state, 'disconnected', 'no session: not a kick');
  });
});

describe('pacer', () => {
  it('spaces messages evenly on the clock it is given, never earning a burst from a late timer', () => {
    let now = 1_000;
    const pacer = new Pacer(4, () => now);
    assert.equal(pacer.take(), true);
    assert.equal(pacer.take(), false);
    assert.equal(pacer.waitMs(), 250);
    now += 250;
    assert.equal(pacer.take(), true);
    now += 10_000;
    assert.equal(pacer.take(), true);
    assert.equal(pacer.take(), false, 'a long pause does not allow a burst');
    assert.equal(new Pacer(0, () => now).take(), true);
  });

  it('a clock set back holds nothing: the slot moves back with it', () => {
    let now = 1_000_000;
    const pacer = new Pacer(4, () => now);
    assert.equal(pacer.take(), true);
    now -= 3_600_000;
    assert.deepEqual([pacer.ready(), pacer.waitMs()], [true, 0], 'an hour back: free at once');
    assert.equal(pacer.take(), true);
    assert.deepEqual([pacer.take(), pacer.waitMs()], [false, 250], 'then paced as before');
  });

  it('shared: a clock set back stalls no one; a new rate serves those waiting at once', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    let offset = 0;
    const pace = new SharedPace(10, () => Date.now() + offset);
    assert.equal(pace.take(), true);
    const turns: number[] = [];
    pace.wait(() => turns.push(Date.now()));
    offset = -3_600_000;
    t.mock.timers.tick(100);
    t.mock.timers.tick(100);
    assert.deepEqual(turns, [200], 'served a slot after the step, not an hour later');
    // Rate 1/s, one waiting: its turn is a second away. Raised to 100/s, it comes within 10 ms.
    const slow = new SharedPace(1, () => Date.now());
    assert.equal(slow.take(), true);
    let served = false;
    slow.wait(() => (served = true));
    slow.configure(100);
    t.mock.timers.tick(10);
    assert.equal(served, true);
  });

  it('shared: each slot to the longest waiting sender, none to a newcomer while others wait', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000 });
    const pace = new SharedPace(10, () => Date.now());
    const turns: string[] = [];
    const sender = (name: string, wants: number) => {
      const turn = (): void => {
        turns.push(`${name}@${Date.now()}`);
        if (--wants > 0) pace.wait(turn);
      };
      return turn;
    };
    assert.equal(pace.take(), true);
    const a = sender('a', 2);
    pace.wait(a);
    pace.wait(a);
    pace.wait(sender('b', 1));
    assert.equal(pace.take(), false, 'a newcomer queues behind those waiting');
    t.mock.timers.tick(100);
    t.mock.timers.tick(100);
    t.mock.timers.tick(100);
    assert.deepEqual(turns, ['a@1100', 'b@1200', 'a@1300']);
    t.mock.timers.tick(100);
    assert.equal(pace.take(), true, 'free again once nobody waits');
    const c = sender('c', 1);
    pace.wait(c);
    pace.leave(c);
    t.mock.timers.tick(500);
    assert.equal(turns.length, 3, 'a sender that left gets no turn');
    assert.equal(new SharedPace(0).take(), true, 'rate 0: no shared pace');
  });

  it('shared: lets several waiting senders through per timer, so rates above 1,000/s are reached', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const pace = new SharedPace(5000, () => Date.now());
    let served = 0;
    while (pace.take()) served++;
    assert.equal(served, 50, 'a full bucket: 10 ms of the rate');
    for (let i = 0; i < 10_000; i++) pace.wait(() => served++);
    for (let ms = 0; ms < 2000 && pace.waiting > 0; ms++) t.mock.timers.tick(1);
    assert.equal(pace.waiting, 0);
    assert.equal(served, 10_050);
    assert.ok(Date.now() <= 2010, `10,000 at 5,000/s took ${Date.now()} ms`);
  });
});

describe('queue journal', () => {
  const fresh = () => join(mkdtempSync(join(tmpdir(), 'journal-')), 'q.jsonl');

  it('restores what is unacknowledged, oldest first, skipping a torn last line', () => {
    const path = fresh();
    const journal = new QueueJournal(path);
    const a = journal.add('/t/a', 'A');
    journal.add('/t/b', Buffer.from([0, 1, 2]));
    journal.remove(a);
    appendFileSync(path, '{"a":"torn","t":"/t/c"');
    const restored = new QueueJournal(path).restore();
    assert.deepEqual(
      restored.map((e) => [e.topic, [...e.payload]]),
      [['/t/b', [0, 1, 2]]],
    );
    assert.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 1, 'rewritten to what is open');
  });

  it('restores only what was there before it: what it added itself is in the outbox already', () => {
    const path = fresh();
    new QueueJournal(path).add('/t/old', 'O');
    // Published before the first login, while the connection waited for its predecessor or its turn.
    const uplink = new Uplink(10, 0, new QueueJournal(path), Date.now, () => false);
    uplink.publish('/t/new', 'N', 1, () => undefined);
    const warnings: unknown[] = [];
    uplink.restoreJournal((code, params) => warnings.push([code, params]));
    assert.deepEqual(warnings, [['QUEUE_RESTORED', { count: 1 }]]);
    const queued: string[] = [];
    for (let m = uplink.outbox.shift(); m; m = uplink.outbox.shift()) queued.push(m.topic);
    assert.deepEqual(queued, ['/t/old', '/t/new'], 'each once, the older first');
    assert.deepEqual(
      new QueueJournal(path).restore().map((e) => e.topic),
      ['/t/old', '/t/new'],
      'both still kept for a restart',
    );
  });

  it('an append that failed halfway (disk full) does not take the next line with it', (t) => {
    const path = fresh();
    const journal = new QueueJournal(path);
    const append = t.mock.method(fs, 'appendFileSync');
    append.mock.mockImplementationOnce((file: fs.PathOrFileDescriptor, data: string | Uint8Array) => {
      appendFileSync(file, String(data).slice(0, 12));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    assert.throws(() => journal.add('/t/lost', 'L'), /ENOSPC/);
    journal.add('/t/kept', 'K');
    assert.deepEqual(
      new QueueJournal(path).restore().map((e) => e.topic),
      ['/t/kept'],
    );
  });

  it('compacts once the file is long and mostly settled', () => {
    const path = fresh();
    const journal = new QueueJournal(path);
    const keep = journal.add('/t/keep', 'k');
    for (let i = 0; i < 5_001; i++) journal.remove(journal.add('/t/x', 'x'));
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    assert.ok(lines.length < 100, `compacted to ${lines.length} lines`);
    assert.deepEqual(
      new QueueJournal(path).restore().map((e) => e.id),
      [keep],
    );
  });
});
