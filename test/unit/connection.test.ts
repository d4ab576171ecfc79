// The connection's phases driven in milliseconds: a fake mqtt.js client plays the broker and
// node:test's mock timers play the clock, so backoff, kick detection, teardown order, handover and
// close are checked without a network or a real wait.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DEFAULT_BACKOFF } from '../../nodes/lib/backoff';
import { DeviceConnection, type ConnectionStatus, type ConnectionTuning } from '../../nodes/lib/connection';
import type { PlatformCalls } from '../../nodes/lib/login';
import { deviceOptions } from '../helpers/device-options';
import { fakeConnect, type FakeClient } from '../helpers/fake-mqtt';

const device = { productKey: 'pkUnit', deviceName: 'unit-dev', deviceSecret: 'unit-secret' };
const TOPIC = `/${device.productKey}/${device.deviceName}/user/t`;
const SYS = `/sys/${device.productKey}/${device.deviceName}/thing`;
const LIFECYCLE = Object.fromEntries(['disable', 'enable', 'delete'].map((n) => [`${SYS}/${n}`, { qos: 0 }]));

function setup(t: TestContext, tuning: Partial<ConnectionTuning> = {}, predecessor?: Promise<void>) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const fake = fakeConnect();
  const connection = new DeviceConnection(
    deviceOptions(device),
    // No jitter: each delay is the nominal one.
    { backoff: { ...DEFAULT_BACKOFF, jitter: 0 }, random: () => 0, connect: fake.connect, ...tuning },
    predecessor,
  );
  const states: ConnectionStatus[] = [];
  connection.on('state', (s) => states.push(s));
  const latest = (): FakeClient => {
    const client = fake.clients.at(-1);
    assert.ok(client, 'a client was opened');
    return client;
  };
  const tick = (ms: number) => t.mock.timers.tick(ms);
  return { connection, clients: fake.clients, latest, states, tick };
}

/** Lets promise callbacks run (mock timers do not drive them). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function publish(connection: DeviceConnection, payload: string, results: (Error | undefined)[]) {
  connection.publish(TOPIC, payload, 1, (err) => results.push(err));
}

describe('connection phases (fake client, mock timers)', () => {
  it('connects, publishes QoS 1 and settles it on PUBACK; subscriptions are made on connect', (t) => {
    const { connection, latest, states } = setup(t);
    connection.subscribe(`/${device.productKey}/${device.deviceName}/user/get`, 1, () => undefined);
    connection.connect();
    assert.equal(connection.state, 'connecting');
    latest().accept();
    assert.deepEqual(
      states.map((s) => s.state),
      ['connecting', 'connected'],
    );
    // The lifecycle notices (PLATFORM.md §16.3) ride in the same SUBSCRIBE.
    assert.deepEqual(latest().subscribed, [
      { ...LIFECYCLE, [`/${device.productKey}/${device.deviceName}/user/get`]: { qos: 1 } },
    ]);
    const results: (Error | undefined)[] = [];
    publish(connection, 'a', results);
    assert.equal(latest().published.length, 1);
    assert.deepEqual(results, []);
    latest().ack(latest().published[0]!);
    assert.deepEqual(results, [undefined]);
  });

  it('a subscriber that throws is a DISPATCH_FAILED warning; the other subscribers still get the message', (t) => {
    const { connection, latest } = setup(t);
    const filter = `/${device.productKey}/${device.deviceName}/user/get`;
    const warnings: [string, unknown][] = [];
    connection.on('warning', (code, params) => warnings.push([code, params]));
    connection.subscribe(filter, 0, () => {
      throw new Error('flow broke');
    });
    const got: string[] = [];
    connection.subscribe(filter, 0, (d) => got.push(d.payload.toString()));
    connection.connect();
    latest().accept();
    latest().emit('message', filter, Buffer.from('hi'), { qos: 0, retain: false });
    assert.deepEqual(got, ['hi']);
    assert.deepEqual(warnings, [['DISPATCH_FAILED', { reason: 'flow broke' }]]);
    assert.equal(connection.state, 'connected');
  });

  it('a forced teardown fails callbacks before close: messages are requeued in order, never failed', (t) => {
    const { connection, clients, latest, tick } = setup(t);
    connection.connect();
    latest().accept();
    const results: (Error | undefined)[] = [];
    for (const p of ['a', 'b', 'c']) publish(connection, p, results);
    const first = latest();
    first.teardown();
    assert.deepEqual(results, [], 'nothing settled by the teardown');
    assert.equal(connection.state, 'disconnected');
    assert.equal(connection.status.queued, 3);
    tick(connection.status.nextRetryMs ?? 0);
    assert.equal(clients.length, 2);
    latest().accept();
    assert.deepEqual(
      latest().published.map((m) => m.payload),
      ['a', 'b', 'c'],
    );
    assert.equal(connection.status.resent, 3);
    for (const sent of latest().published) latest().ack(sent);
    assert.deepEqual(results, [undefined, undefined, undefined]);
  });

  it('backs off 1 s, 2 s, 4 s while the broker cannot be reached, and starts over after a stable session', (t) => {
    const { connection, clients, latest, states, tick } = setup(t);
    connection.connect();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      latest().close();
      delays.push(connection.status.nextRetryMs ?? -1);
      tick(connection.status.nextRetryMs ?? 0);
    }
    assert.deepEqual(delays, [1000, 2000, 4000]);
    assert.equal(clients.length, 4);
    latest().accept();
    tick(10_000);
    latest().close();
    assert.equal(connection.status.nextRetryMs, 1000, 'a session of 10 s resets the backoff');
    assert.equal(states.at(-1)?.state, 'disconnected');
  });

  it('reports kicked after three sessions cut short in a row', (t) => {
    const { connection, latest, tick } = setup(t);
    connection.connect();
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      latest().accept();
      tick(500);
      latest().close();
      seen.push(connection.state);
      tick(connection.status.nextRetryMs ?? 0);
    }
    assert.deepEqual(seen, ['disconnected', 'disconnected', 'kicked']);
  });

  it('a refused login (CONNACK 4) waits at least a minute, with the code in the status', (t) => {
    const { connection, clients, latest, tick } = setup(t);
    connection.connect();
    latest().refuse(4);
    assert.equal(connection.state, 'auth-failed');
    assert.equal(connection.status.code, 4);
    assert.ok((connection.status.nextRetryMs ?? 0) >= 60_000);
    tick(59_999);
    assert.equal(clients.length, 1, 'no login within the minute');
    tick(connection.status.nextRetryMs ?? 0);
    assert.equal(clients.length, 2);
  });

  it('waits for its predecessor to log out before it logs in (redeploy handover)', async (t) => {
    let loggedOut!: () => void;
    const predecessor = new Promise<void>((resolve) => (loggedOut = resolve));
    const { connection, clients } = setup(t, {}, predecessor);
    connection.connect();
    connection.reconnect();
    assert.equal(clients.length, 0);
    loggedOut();
    await settle();
    assert.equal(clients.length, 1);
    assert.equal(connection.state, 'connecting');
  });

  it('a disconnect() while waiting for the predecessor: connect() and reconnect() still wait for it', async (t) => {
    let loggedOut!: () => void;
    const predecessor = new Promise<void>((resolve) => (loggedOut = resolve));
    const { connection, clients } = setup(t, {}, predecessor);
    connection.connect();
    await connection.disconnect();
    connection.connect();
    connection.reconnect();
    assert.equal(clients.length, 0, 'no login while the predecessor is logged in');
    loggedOut();
    await settle();
    assert.equal(clients.length, 1);
  });

  it('close() after disconnect() ends only once the session disconnect() was ending has gone', async (t) => {
    const { connection, latest } = setup(t);
    connection.connect();
    latest().accept();
    const client = latest();
    let acknowledged!: () => void;
    // A graceful end waits for the PUBACKs still due.
    client.end = (_force?: boolean, _opts?: object, cb?: () => void) => {
      acknowledged = () => {
        client.close();
        cb?.();
      };
      return client;
    };
    const disconnecting = connection.disconnect();
    let closed = false;
    const closing = connection.close().then(() => (closed = true));
    await settle();
    assert.equal(closed, false, 'the old session is still ending');
    acknowledged();
    await Promise.all([disconnecting, closing]);
    assert.equal(connection.state, 'closed');
  });

  it('reconnect() while the registration is on its way asks the platform once', async (t) => {
    const calls: string[] = [];
    let issue!: () => void;
    const platform = {
      registerOverHttps: (options: { productKey: string; deviceName: string }) => {
        calls.push('register');
        return new Promise((resolve) => (issue = () => resolve({ ...options, deviceSecret: 'issued' })));
      },
    } as unknown as PlatformCalls;
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const fake = fakeConnect();
    const options = deviceOptions(
      { ...device, deviceSecret: '' },
      { authMode: 'register', productSecret: 'ps', transport: 'tls', port: 8883 },
    );
    const connection = new DeviceConnection(options, { connect: fake.connect, platform });
    connection.connect();
    assert.equal(connection.state, 'connecting');
    connection.reconnect();
    await settle();
    issue();
    await settle();
    assert.deepEqual(calls, ['register'], 'a device registers once');
    assert.equal(fake.clients.length, 1);
    fake.clients[0]!.accept();
    assert.equal(connection.state, 'connected');
    await connection.close();
  });

  it('a node whose refused-filter callback throws is a warning; the SUBACK handling goes on', (t) => {
    const { connection, latest } = setup(t);
    const warnings: [string, unknown][] = [];
    connection.on('warning', (code, params) => warnings.push([code, params]));
    const filter = `/${device.productKey}/${device.deviceName}/user/nope`;
    const codes: number[] = [];
    connection.subscribe(
      filter,
      1,
      () => undefined,
      () => {
        throw new Error('node broke');
      },
    );
    connection.subscribe(
      filter,
      1,
      () => undefined,
      (code) => codes.push(code),
    );
    connection.connect();
    const client = latest();
    let suback: ((err: Error | null, subs: unknown, packet: unknown) => void) | undefined;
    client.subscribe = (_filters: Record<string, { qos: number }>, cb?: unknown) => {
      suback = cb as typeof suback;
      return client;
    };
    client.accept();
    assert.doesNotThrow(() => suback?.(null, [{ topic: filter, qos: 1 }], { granted: [0x80] }));
    assert.deepEqual(codes, [0x80]);
    assert.deepEqual(warnings, [['DISPATCH_FAILED', { reason: 'node broke' }]]);
  });

  it('disconnect() stops until connect(): no retry timer, state stopped, queued messages wait', async (t) => {
    const { connection, clients, latest, tick } = setup(t);
    connection.connect();
    latest().accept();
    await connection.disconnect();
    assert.equal(connection.state, 'stopped');
    assert.equal(connection.status.reason, 'requested');
    assert.equal(latest().ended, 'graceful');
    const results: (Error | undefined)[] = [];
    publish(connection, 'later', results);
    tick(3_600_000);
    assert.equal(clients.length, 1, 'no login while stopped');
    connection.connect();
    latest().accept();
    assert.deepEqual(
      latest().published.map((m) => m.payload),
      ['later'],
    );
  });

  it('close() gives messages in flight a moment, then fails them for good and ends in closed', async (t) => {
    const { connection, clients, latest, tick } = setup(t);
    connection.connect();
    latest().accept();
    const results: (Error | undefined)[] = [];
    publish(connection, 'x', results);
    publish(connection, 'y', results);
    latest().ack(latest().published[0]!);
    const closing = connection.close();
    await settle();
    assert.equal(results.length, 1, 'the unacknowledged one waits for its PUBACK');
    tick(2_000);
    await closing;
    assert.deepEqual(
      results.map((e) => (e as { code?: string } | undefined)?.code),
      [undefined, 'CONNECTION_CLOSED'],
    );
    assert.equal(connection.state, 'closed');
    tick(3_600_000);
    assert.equal(clients.length, 1, 'nothing after the end');
    const late: (Error | undefined)[] = [];
    publish(connection, 'z', late);
    assert.equal((late[0] as { code?: string } | undefined)?.code, 'CONNECTION_CLOSED');
  });

  it('close(): a callback that publishes again when its message fails is answered too', async (t) => {
    const { connection, latest, tick } = setup(t);
    connection.connect();
    latest().accept();
    const retried: (Error | undefined)[] = [];
    connection.publish(TOPIC, 'x', 1, () => connection.publish(TOPIC, 'x again', 1, (err) => retried.push(err)));
    const closing = connection.close();
    tick(2_000);
    await closing;
    assert.equal((retried[0] as { code?: string } | undefined)?.code, 'CONNECTION_CLOSED');
    assert.equal(connection.status.queued, 0);
  });

  it('close() while backing off stops the retry timer', async (t) => {
    const { connection, clients, latest, tick } = setup(t);
    connection.connect();
    latest().close();
    assert.equal(connection.state, 'disconnected');
    await connection.close();
    tick(3_600_000);
    assert.equal(clients.length, 1);
    assert.equal(connection.state, 'closed');
  });

  it('reconnect() drops the live session and logs in again at once', (t) => {
    const { connection, clients, latest } = setup(t);
    connection.connect();
    const first = latest();
    first.accept();
    connection.reconnect();
    assert.equal(first.ended, 'forced');
    assert.equal(clients.length, 2);
    assert.equal(connection.state, 'reconnecting');
    first.close();
    assert.equal(connection.state, 'reconnecting', "the dropped session's close is not this session's");
  });

  for (const [notice, state] of [
    ['disable', 'disabled'],
    ['delete', 'deleted'],
  ] as const) {
    it(`thing/${notice} is answered and stops logins until connect(): state ${state}`, (t) => {
      const { connection, clients, latest, tick } = setup(t);
      connection.connect();
      latest().accept();
      const payload = JSON.stringify({ id: '123', version: '1.0', params: {}, method: `thing.${notice}` });
      latest().emit('message', `${SYS}/${notice}`, Buffer.from(payload), { qos: 0, retain: false });
      const reply = latest().published.find((m) => m.topic === `${SYS}/${notice}_reply`);
      assert.deepEqual(JSON.parse(reply?.payload ?? '{}'), { id: '123', code: 200, data: {} });
      assert.equal(reply?.qos, 0);
      assert.equal(connection.state, state);
      assert.equal(connection.status.reason, `thing/${notice}`);
      assert.equal(latest().ended, 'graceful');
      latest().close();
      tick(3_600_000);
      assert.equal(clients.length, 1, 'no login after the notice');
      connection.connect();
      assert.equal(clients.length, 2);
      latest().accept();
      assert.equal(connection.state, 'connected');
    });
  }

  it('thing/enable is answered (numeric id echoed) and changes nothing', (t) => {
    const { connection, latest } = setup(t);
    connection.connect();
    latest().accept();
    latest().emit('message', `${SYS}/enable`, Buffer.from('{"id":7,"params":{}}'), { qos: 0, retain: false });
    const reply = latest().published.find((m) => m.topic === `${SYS}/enable_reply`);
    assert.deepEqual(JSON.parse(reply?.payload ?? '{}'), { id: 7, code: 200, data: {} });
    assert.equal(connection.state, 'connected');
  });
});
