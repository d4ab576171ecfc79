// Guessing is bounded (issue #20): failed MQTT logins, HTTPS device calls and API tokens from one
// address are slowed down past a limit, other addresses are not, and the counters show it. Delays
// are small here and checked as lower bounds and counters, never with fixed sleeps.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Emulator, GuessingLimits } from '../../emulator/index';
import { GuessGuard, guessingLimits } from '../../emulator/guard';
import { signAuth, signMqtt } from '../../nodes/lib/index';
import { connectDevice, connectTcpFrom, eventually, httpsRaw, refusalCode, start } from '../helpers/emulator';

const device = { productKey: 'pkGuess', deviceName: 'guess-dev', deviceSecret: 'guess-secret' };
const wrong = { ...device, deviceSecret: 'not-it' };
const limits: GuessingLimits = { maxFailures: 3, windowMs: 60_000, delayMs: 300, maxDelayMs: 600 };
/** Timers may fire a little before their time as Date.now() counts it. */
const SLACK_MS = 30;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

describe('GuessGuard', () => {
  const make = () => new GuessGuard(guessingLimits(limits), true, () => undefined);

  it('delays past the limit, doubling to the cap, per address and kind, within a sliding window', () => {
    const guard = make();
    for (let i = 0; i < 3; i++) {
      assert.equal(guard.delayFor('mqtt', 'a', 1000), 0);
      guard.fail('mqtt', 'a', 1000 + i);
    }
    assert.equal(guard.delayFor('mqtt', 'a', 2000), 300);
    guard.fail('mqtt', 'a', 2000);
    assert.equal(guard.delayFor('mqtt', 'a', 2000), 600);
    guard.fail('mqtt', 'a', 2001);
    assert.equal(guard.delayFor('mqtt', 'a', 2001), 600, 'capped');
    assert.equal(guard.delayFor('mqtt', 'b', 2001), 0, 'another address');
    assert.equal(guard.delayFor('https', 'a', 2001), 0, 'another kind');
    assert.equal(guard.delayFor('mqtt', 'a', 1001 + 60_000), 300, 'the oldest failures left the window');
    assert.equal(guard.delayFor('mqtt', 'a', 2001 + 60_000), 0, 'all of them');
  });

  it('close() ends pending delays without running the attempt', () => {
    const guard = make();
    for (let i = 0; i < 3; i++) guard.fail('api', 'a');
    const outcomes: boolean[] = [];
    guard.admit('api', 'a', (go) => outcomes.push(go));
    assert.deepEqual([...outcomes], [], 'waiting');
    guard.close();
    assert.deepEqual([...outcomes], [false]);
    guard.admit('api', 'b', (go) => outcomes.push(go));
    assert.deepEqual([...outcomes], [false, false], 'nothing is admitted after close');
  });
});

describe('emulator guessing limits', () => {
  let emu: Emulator;
  const logged: string[] = [];
  before(async () => {
    emu = await start({
      devices: [device],
      guessing: limits,
      apiToken: 'guessing-test-token',
      log: (l) => logged.push(l),
    });
  });
  after(() => emu.close());

  it('slows down MQTT logins from an address after failed ones (right or wrong), not other addresses', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await refusalCode(connectDevice(emu, 'tcp', wrong)), 4);
    assert.match(logged.join('\n'), /3 failed MQTT logins from 127\.0\.0\.1/);
    const late = await timed(() => refusalCode(connectDevice(emu, 'tcp', device)));
    assert.equal(late.value, 0, 'a right login still succeeds, later');
    assert.ok(late.ms >= 300 - SLACK_MS, `waited ${late.ms} ms`);
    assert.equal(emu.stats().guessing.throttled.mqtt, 1);
    assert.deepEqual(emu.stats().guessing.throttledAddresses.mqtt, ['127.0.0.1']);

    const creds = signMqtt({ ...device, securemode: 3 });
    const other = await connectTcpFrom(emu, '127.0.0.2', creds);
    await other.endAsync();
    assert.equal(emu.stats().guessing.throttled.mqtt, 1, '127.0.0.2 was not delayed');
    assert.equal(emu.stats().guessing.failures.mqtt, 3);
  });

  it('slows down HTTPS device calls from an address after answers other than 200', async () => {
    const bad = new URLSearchParams({ ...signAuth(wrong) }).toString();
    const good = new URLSearchParams({ ...signAuth(device) }).toString();
    for (let i = 0; i < 3; i++) {
      const answer = await httpsRaw(emu, 'POST', '/auth/devicename', { body: bad });
      assert.equal((JSON.parse(answer.text) as { code: number }).code, 401);
    }
    const late = await timed(() => httpsRaw(emu, 'POST', '/auth/devicename', { body: good }));
    assert.equal((JSON.parse(late.value.text) as { code: number }).code, 200);
    assert.ok(late.ms >= 300 - SLACK_MS, `waited ${late.ms} ms`);
    await httpsRaw(emu, 'POST', '/auth/devicename', { body: good, localAddress: '127.0.0.2' });
    const stats = emu.stats().guessing;
    assert.equal(stats.throttled.https, 1, 'only the guessing address waited');
    assert.equal(stats.failures.https, 3);
  });

  it('slows down API calls from an address after refused tokens; /api/stats shows every counter', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await httpsRaw(emu, 'GET', '/api/devices', { headers: { authorization: `Bearer guess-${i}` } });
      assert.equal(answer.status, 401);
    }
    const headers = { authorization: 'Bearer guessing-test-token' };
    const late = await timed(() => httpsRaw(emu, 'GET', '/api/stats', { headers }));
    assert.equal(late.value.status, 200);
    assert.ok(late.ms >= 300 - SLACK_MS, `waited ${late.ms} ms`);
    const stats = (JSON.parse(late.value.text) as { guessing: ReturnType<Emulator['stats']>['guessing'] }).guessing;
    assert.equal(stats.enabled, true);
    assert.deepEqual(stats.failures, { mqtt: 3, https: 3, api: 3 });
    assert.deepEqual(stats.throttled, { mqtt: 1, https: 1, api: 1 });
    assert.deepEqual(stats.throttledAddresses.api, ['127.0.0.1']);
    const other = await httpsRaw(emu, 'GET', '/api/stats', { headers, localAddress: '127.0.0.2' });
    assert.equal(other.status, 200);
    assert.equal(emu.stats().guessing.throttled.api, 1, '127.0.0.2 was not delayed');
  });
});

describe('emulator guessing limits on loopback and at close', () => {
  it('on loopback by default failures are counted, nothing is delayed', async () => {
    const emu = await start({ devices: [device] });
    try {
      for (let i = 0; i < 5; i++) assert.equal(await refusalCode(connectDevice(emu, 'tcp', wrong)), 4);
      assert.equal(await refusalCode(connectDevice(emu, 'tcp', device)), 0);
      const stats = emu.stats().guessing;
      assert.equal(stats.enabled, false);
      assert.equal(stats.failures.mqtt, 5);
      assert.equal(stats.throttled.mqtt, 0);
    } finally {
      await emu.close();
    }
  });

  it('close() ends a delayed login at once: no timer outlives the emulator', async () => {
    const emu = await start({
      devices: [device],
      guessing: { maxFailures: 1, delayMs: 60_000, maxDelayMs: 60_000 },
      log: () => undefined,
    });
    const state = { closed: false };
    try {
      assert.equal(await refusalCode(connectDevice(emu, 'tcp', wrong)), 4);
      const waiting = refusalCode(connectDevice(emu, 'tcp', device));
      await eventually(() => emu.stats().guessing.throttled.mqtt === 1, 5000, 'the login to be delayed');
      const closing = await timed(async () => {
        state.closed = true;
        await emu.close();
        return waiting;
      });
      assert.notEqual(closing.value, 0, 'the delayed login did not get in');
      assert.ok(closing.ms < 10_000, `closed in ${closing.ms} ms, not after the 60 s delay`);
    } finally {
      if (!state.closed) await emu.close();
    }
  });
});
