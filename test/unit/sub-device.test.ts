// A sub-device through its gateway (fake gateway connection, mock timers): the states every node
// shows, messages that wait for the login, filters subscribed only while logged in, its own pace.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { ConnectionState } from '../../nodes/lib/connection';
import { GatewaySession, LOGIN_SPACING_MS } from '../../nodes/lib/gateway/session';
import { SubDeviceConnection } from '../../nodes/lib/gateway/sub-device';
import { validOptions } from '../helpers/device-options';
import { FakeGateway, T } from '../helpers/fake-gateway';

const sub = { productKey: 'subPK', deviceName: 'meter-0', deviceSecret: 'sub-secret' };
const TOPIC = '/subPK/meter-0/user/update';

function setup(t: TestContext, settings: Record<string, unknown> = {}, gatewayRateLimit?: number) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const gateway = new FakeGateway(gatewayRateLimit);
  const session = new GatewaySession(gateway);
  const device = new SubDeviceConnection(validOptions({ ...sub, rateLimit: 0, ...settings }), gateway, session);
  /** Another sub-device of the same gateway. */
  const sibling = (deviceName: string) =>
    new SubDeviceConnection(validOptions({ ...sub, deviceName, rateLimit: 0, ...settings }), gateway, session);
  const states: ConnectionState[] = [];
  device.on('state', (s) => states.push(s.state));
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  /** The gateway comes online and the platform logs the sub-device in. */
  const login = async () => {
    gateway.go('connected');
    t.mock.timers.tick(LOGIN_SPACING_MS + 1);
    gateway.reply(T.topoGet, 200, [{ productKey: sub.productKey, deviceName: sub.deviceName }]);
    await settle();
    gateway.reply(T.login, 200);
    await settle();
  };
  const uplink = () => gateway.sent.filter((s) => !s.topic.startsWith('/sys/gwPK') && !s.topic.startsWith('/ext/'));
  return { gateway, session, device, sibling, states, login, uplink, settle };
}

describe('sub-device connection (fake gateway, mock timers)', () => {
  it('shows gateway offline, connecting, connected; messages sent before the login go out after it, in order', async (t) => {
    const ctx = setup(t);
    ctx.device.connect();
    const results: (Error | undefined)[] = [];
    ctx.device.publish(TOPIC, 'a', 1, (err) => results.push(err));
    ctx.device.publish(TOPIC, 'b', 0, (err) => results.push(err));
    assert.equal(ctx.device.publishNow(TOPIC, 'c'), false, 'not while logged out');
    assert.equal(ctx.device.status.queued, 2);
    assert.deepEqual(ctx.uplink(), []);
    await ctx.login();
    assert.deepEqual(ctx.states, ['disconnected', 'connecting', 'connected']);
    assert.equal(ctx.device.status.reason, undefined);
    assert.deepEqual(
      ctx.uplink().map((s) => [s.topic, s.raw, s.qos]),
      [
        [TOPIC, 'a', 1],
        [TOPIC, 'b', 0],
      ],
    );
    assert.deepEqual(results, [undefined, undefined]);
    assert.equal(ctx.device.publishNow(TOPIC, 'c'), true);
    assert.equal(ctx.uplink().length, 3);
  });

  it('subscribes its filters on the gateway connection only while logged in', async (t) => {
    const ctx = setup(t);
    const got: string[] = [];
    const filter = '/sys/subPK/meter-0/thing/service/property/set';
    const handle = ctx.device.subscribe(filter, 1, (d) => got.push(d.payload.toString()));
    ctx.device.connect();
    assert.ok(!ctx.gateway.filters.includes(filter), 'not before the login');
    await ctx.login();
    assert.ok(ctx.gateway.filters.includes(filter));
    ctx.gateway.deliver(filter, '{"id":"1"}');
    assert.deepEqual(got, ['{"id":"1"}']);
    // The gateway drops: the sub-device is offline and its filter leaves the gateway's connection.
    ctx.gateway.go('disconnected');
    assert.equal(ctx.device.state, 'disconnected');
    assert.equal(ctx.device.status.reason, 'gateway-offline');
    assert.ok(!ctx.gateway.filters.includes(filter));
    await ctx.login();
    assert.ok(ctx.gateway.filters.includes(filter), 'back after the next login');
    handle.close(true);
    assert.ok(!ctx.gateway.filters.includes(filter));
  });

  it('a refused login shows auth failed with the platform code; kicked shows kicked', async (t) => {
    const ctx = setup(t);
    ctx.device.connect();
    ctx.gateway.go('connected');
    t.mock.timers.tick(LOGIN_SPACING_MS + 1);
    ctx.gateway.reply(T.topoGet, 200, [{ productKey: sub.productKey, deviceName: sub.deviceName }]);
    await ctx.settle();
    ctx.gateway.reply(T.login, 6287);
    await ctx.settle();
    assert.equal(ctx.device.state, 'auth-failed');
    assert.equal(ctx.device.status.code, 6287);
    ctx.gateway.deliver(T.error, { code: 427, data: { productKey: 'subPK', deviceName: 'meter-0' } });
    assert.equal(ctx.device.state, 'kicked');
  });

  for (const [code, state] of [
    [522, 'disabled'],
    [521, 'deleted'],
  ] as const) {
    it(`a login refused with ${code} shows ${state}`, async (t) => {
      const ctx = setup(t);
      ctx.device.connect();
      ctx.gateway.go('connected');
      t.mock.timers.tick(LOGIN_SPACING_MS + 1);
      ctx.gateway.reply(T.topoGet, 200, [{ productKey: sub.productKey, deviceName: sub.deviceName }]);
      await ctx.settle();
      ctx.gateway.reply(T.login, code);
      await ctx.settle();
      assert.equal(ctx.device.state, state);
      assert.equal(ctx.device.status.code, code);
    });
  }

  it('paces its own messages to its rate, whatever the gateway allows', async (t) => {
    const ctx = setup(t, { rateLimit: 10 });
    ctx.device.connect();
    await ctx.login();
    for (let i = 0; i < 5; i++) ctx.device.publish(TOPIC, String(i), 0, () => undefined);
    assert.equal(ctx.uplink().length, 1, 'the first goes at once');
    t.mock.timers.tick(100);
    assert.equal(ctx.uplink().length, 2);
    for (let i = 0; i < 3; i++) t.mock.timers.tick(100);
    assert.deepEqual(
      ctx.uplink().map((s) => s.raw),
      ['0', '1', '2', '3', '4'],
    );
  });

  it("hands its messages to the gateway unpaced: the gateway's own pace is for the gateway's messages", async (t) => {
    const ctx = setup(t);
    ctx.device.connect();
    await ctx.login();
    ctx.device.publish(TOPIC, 'q1', 1, () => undefined);
    assert.equal(ctx.device.publishNow(TOPIC, 'q0'), true);
    assert.deepEqual(
      ctx.uplink().map((s) => [s.raw, s.paced]),
      [
        ['q1', false],
        ['q0', false],
      ],
    );
    assert.ok(
      ctx.gateway.sent.filter((s) => s.topic.startsWith('/ext/session')).every((s) => s.paced),
      "the gateway's own requests keep its pace",
    );
  });

  it('shares the gateway-wide pace among all sub-devices, each in turn, with one timer', async (t) => {
    // 20/s for the gateway as a whole: a slot every 50 ms, whatever each sub-device's own pace.
    const ctx = setup(t, {}, 20);
    const second = ctx.sibling('meter-1');
    ctx.device.connect();
    second.connect();
    ctx.gateway.go('connected');
    t.mock.timers.tick(LOGIN_SPACING_MS + 1);
    ctx.gateway.reply(T.topoGet, 200, [
      { productKey: sub.productKey, deviceName: 'meter-0' },
      { productKey: sub.productKey, deviceName: 'meter-1' },
    ]);
    await ctx.settle();
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    assert.equal(second.state, 'connected');
    for (let i = 0; i < 3; i++) {
      ctx.device.publish(TOPIC, `a${i}`, 0, () => undefined);
      second.publish('/subPK/meter-1/user/update', `b${i}`, 0, () => undefined);
    }
    assert.deepEqual(
      ctx.uplink().map((s) => s.raw),
      ['a0'],
      'one slot now; everything else waits in line',
    );
    for (let i = 0; i < 5; i++) t.mock.timers.tick(50);
    const sent = ctx.uplink();
    const order = sent.map((s) => s.raw);
    assert.equal(order.length, 6, 'one message per slot');
    assert.deepEqual(
      order.filter((m) => m.startsWith('a')),
      ['a0', 'a1', 'a2'],
    );
    // Taking turns: neither sub-device sends twice in a row while the other waits.
    assert.deepEqual(
      order.slice(2).map((m) => m[0]),
      order[2]?.startsWith('a') ? ['a', 'b', 'a', 'b'] : ['b', 'a', 'b', 'a'],
      order.join(','),
    );
    const gaps = sent.slice(1).map((s, i) => s.at - (sent[i]?.at ?? 0));
    assert.ok(
      gaps.every((g) => g >= 50),
      `never faster than the gateway's pace: ${gaps.join(',')}`,
    );
    // A sub-device that logs out leaves the line; the other keeps its turns.
    ctx.device.publish(TOPIC, 'a3', 0, () => undefined);
    second.publish('/subPK/meter-1/user/update', 'b3', 0, () => undefined);
    await ctx.device.disconnect();
    for (let i = 0; i < 3; i++) t.mock.timers.tick(50);
    assert.deepEqual(
      ctx
        .uplink()
        .slice(6)
        .map((s) => s.raw),
      ['b3'],
    );
    assert.equal(ctx.device.status.queued, 1, 'waits for its next login');
  });

  it('a sub-device waiting in the gateway line never sends twice within its own pace, whatever fires first', async (t) => {
    // 200/s for the gateway: its bucket holds two slots. 10/s for each sub-device: 100 ms apart.
    const ctx = setup(t, { rateLimit: 10 }, 200);
    const others = [ctx.sibling('meter-1'), ctx.sibling('meter-2')];
    for (const d of [ctx.device, ...others]) d.connect();
    ctx.gateway.go('connected');
    t.mock.timers.tick(LOGIN_SPACING_MS + 1);
    const names = ['meter-0', 'meter-1', 'meter-2'];
    ctx.gateway.reply(
      T.topoGet,
      200,
      names.map((deviceName) => ({ productKey: sub.productKey, deviceName })),
    );
    await ctx.settle();
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    assert.deepEqual(
      others.map((d) => d.state),
      ['connected', 'connected'],
    );
    ctx.device.publish(TOPIC, 'm0', 0, () => undefined);
    ctx.device.publish(TOPIC, 'm1', 0, () => undefined);
    t.mock.timers.tick(99);
    // The siblings take both gateway slots just before the sub-device's own pace lets m1 go...
    others.forEach((d, i) => d.publish(`/subPK/meter-${i + 1}/user/update`, 'x', 0, () => undefined));
    t.mock.timers.tick(1);
    // ...so it waits in the gateway's line, and a message sent meanwhile queues behind m1.
    ctx.device.publish(TOPIC, 'm2', 0, () => undefined);
    // The event loop stalls for 20 ms: every timer due fires late, its own before the gateway's.
    t.mock.timers.setTime(Date.now() + 20);
    t.mock.timers.tick(0);
    t.mock.timers.tick(300);
    const mine = ctx.uplink().filter((s) => s.topic === TOPIC);
    assert.deepEqual(
      mine.map((s) => s.raw),
      ['m0', 'm1', 'm2'],
    );
    const gaps = mine.slice(1).map((s, i) => s.at - mine[i]!.at);
    assert.ok(
      gaps.every((g) => g >= 100),
      `never faster than its own pace: ${gaps.join(',')}`,
    );
  });

  it('disconnect logs out and stops; close fails what waits and ends in closed', async (t) => {
    const ctx = setup(t, { queueSize: 1 });
    ctx.device.connect();
    await ctx.login();
    await ctx.device.disconnect();
    assert.equal(ctx.device.state, 'stopped');
    assert.equal(ctx.gateway.count(T.logout), 1);
    const results: (string | undefined)[] = [];
    const record = (err?: Error) => results.push((err as { code?: string } | undefined)?.code);
    ctx.device.publish(TOPIC, 'kept', 1, record);
    ctx.device.publish(TOPIC, 'over', 1, record);
    assert.deepEqual(results, ['QUEUE_FULL']);
    await ctx.device.close();
    assert.deepEqual(results, ['QUEUE_FULL', 'CONNECTION_CLOSED']);
    assert.equal(ctx.device.state, 'closed');
    ctx.device.publish(TOPIC, 'late', 0, record);
    assert.equal(results.at(-1), 'CONNECTION_CLOSED');
  });
});
