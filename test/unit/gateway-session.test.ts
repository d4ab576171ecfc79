// The gateway session over a fake gateway connection, with mock timers: topology, batch logins at the
// platform's pace, refusals and /ext/error codes, and what a gateway drop does to its sub-devices.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DEFAULT_BACKOFF } from '../../nodes/lib/backoff';
import { signSubDevice } from '../../nodes/lib/gateway/protocol';
import { GatewaySession, LOGIN_SPACING_MS } from '../../nodes/lib/gateway/session';
import { memoryStore, type CredentialStore } from '../../nodes/lib/login';
import { FakeGateway, T } from '../helpers/fake-gateway';

function setup(t: TestContext, count: number) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const gateway = new FakeGateway();
  const session = new GatewaySession(gateway, {
    replyTimeoutMs: 5000,
    backoff: { ...DEFAULT_BACKOFF, jitter: 0 },
    random: () => 0,
  });
  const states = new Map<string, string[]>();
  const detach = Array.from({ length: count }, (_, i) => {
    const device = { productKey: 'subPK', deviceName: `meter-${i}`, deviceSecret: `s${i}` };
    states.set(device.deviceName, []);
    return session.attach({
      device,
      cleanSession: false,
      changed: (state, code) => states.get(device.deviceName)!.push(code === undefined ? state : `${state}:${code}`),
    });
  });
  // A timer that fires may arm the next login batch at once, which Node clamps to 1 ms: every
  // step lets that run too, so it moves the clock by `ms` + 1.
  const tick = (ms: number) => {
    t.mock.timers.tick(ms);
    t.mock.timers.tick(1);
  };
  /** Lets the session's awaits run after a reply (mock timers do not drive promises). */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  const last = (name: string) => states.get(name)!.at(-1);
  return { gateway, session, states, detach, tick, settle, last };
}

/** Brings the gateway online and answers topology and login so that every sub-device is online. */
async function online(ctx: ReturnType<typeof setup>, topology: string[] = []): Promise<void> {
  ctx.gateway.go('connected');
  ctx.tick(LOGIN_SPACING_MS);
  ctx.gateway.reply(
    T.topoGet,
    200,
    topology.map((deviceName) => ({ productKey: 'subPK', deviceName })),
  );
  await ctx.settle();
  if (ctx.gateway.count(T.topoAdd) > 0) {
    ctx.gateway.reply(T.topoAdd, 200);
    await ctx.settle();
  }
  ctx.gateway.reply(T.login, 200);
  await ctx.settle();
}

describe('gateway session (fake gateway, mock timers)', () => {
  it('reads the topology, adds what is missing, logs every sub-device in', async (t) => {
    const ctx = setup(t, 3);
    assert.equal(ctx.last('meter-0'), 'gateway-offline');
    await online(ctx, ['meter-0']);
    const add = ctx.gateway.sent.find((s) => s.topic === T.topoAdd)!;
    assert.deepEqual(
      (add.body.params as { deviceName: string }[]).map((p) => p.deviceName),
      ['meter-1', 'meter-2'],
    );
    const login = ctx.gateway.sent.find((s) => s.topic === T.login)!;
    const list = (login.body.params as { deviceList: { deviceName: string; cleanSession: string }[] }).deviceList;
    assert.deepEqual(
      list.map((d) => d.deviceName),
      ['meter-0', 'meter-1', 'meter-2'],
    );
    assert.equal(list[0]!.cleanSession, 'false');
    assert.deepEqual(ctx.states.get('meter-1'), ['gateway-offline', 'logging-in', 'online']);
    assert.equal(ctx.session.stateOf({ productKey: 'subPK', deviceName: 'meter-2' }), 'online');
  });

  it('logs 120 sub-devices in as 50 + 50 + 20, one batch every 275 ms at most, one topology read', async (t) => {
    const ctx = setup(t, 120);
    const names = Array.from({ length: 120 }, (_, i) => `meter-${i}`);
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.gateway.reply(
      T.topoGet,
      200,
      names.map((deviceName) => ({ productKey: 'subPK', deviceName })),
    );
    await ctx.settle();
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    for (let i = 0; i < 2; i++) {
      ctx.tick(LOGIN_SPACING_MS);
      await ctx.settle();
      ctx.gateway.reply(T.login, 200);
      await ctx.settle();
    }
    const logins = ctx.gateway.sent.filter((s) => s.topic === T.login);
    assert.deepEqual(
      logins.map((s) => (s.body.params as { deviceList: unknown[] }).deviceList.length),
      [50, 50, 20],
    );
    assert.ok(
      logins[1]!.at - logins[0]!.at >= LOGIN_SPACING_MS && logins[2]!.at - logins[1]!.at >= LOGIN_SPACING_MS,
      'below 200 logins/s',
    );
    assert.equal(ctx.gateway.count(T.topoGet), 1);
    assert.ok(names.every((n) => ctx.last(n) === 'online'));
  });

  it('one batch at a time: a late topology read is made once, and logins are spaced from answers', async (t) => {
    const ctx = setup(t, 120);
    const names = Array.from({ length: 120 }, (_, i) => `meter-${i}`);
    ctx.gateway.go('connected');
    ctx.tick(0);
    // The read waits in the gateway's queue (behind messages it kept while offline).
    ctx.tick(2000);
    assert.equal(ctx.gateway.count(T.topoGet), 1, 'not one read per batch');
    ctx.gateway.reply(
      T.topoGet,
      200,
      names.map((deviceName) => ({ productKey: 'subPK', deviceName })),
    );
    await ctx.settle();
    for (let i = 0; i < 3; i++) {
      assert.equal(ctx.gateway.count(T.login), i + 1, 'the next batch waits for this one');
      ctx.tick(100);
      ctx.gateway.reply(T.login, 200);
      await ctx.settle();
      ctx.tick(LOGIN_SPACING_MS);
      await ctx.settle();
    }
    const logins = ctx.gateway.sent.filter((s) => s.topic === T.login);
    const gaps = logins.slice(1).map((s, i) => s.at - logins[i]!.at);
    assert.ok(
      gaps.every((g) => g >= LOGIN_SPACING_MS + 100),
      `spaced from the answer before: ${gaps.join(', ')}`,
    );
    assert.ok(names.every((n) => ctx.last(n) === 'online'));
  });

  it('stops on a wrong secret (6287) until the user acts', async (t) => {
    const ctx = setup(t, 1);
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.gateway.reply(T.topoGet, 200, [{ productKey: 'subPK', deviceName: 'meter-0' }]);
    await ctx.settle();
    ctx.gateway.reply(T.login, 6287);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'login-failed:6287');
    ctx.tick(3600_000);
    assert.equal(ctx.gateway.count(T.login), 1, 'no retry');
  });

  it('retries a rate limit (429) after the backoff', async (t) => {
    const ctx = setup(t, 1);
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.gateway.reply(T.topoGet, 200, [{ productKey: 'subPK', deviceName: 'meter-0' }]);
    await ctx.settle();
    ctx.gateway.reply(T.login, 429);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'retrying:429');
    ctx.tick(997);
    assert.equal(ctx.gateway.count(T.login), 1, 'not before 1 s');
    ctx.tick(1);
    await ctx.settle();
    assert.equal(ctx.gateway.count(T.login), 2, 'retried after 1 s');
  });

  it('a topology refusal (401) fails that sub-device; the others still log in', async (t) => {
    const ctx = setup(t, 2);
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.gateway.reply(T.topoGet, 200, [{ productKey: 'subPK', deviceName: 'meter-0' }]);
    await ctx.settle();
    ctx.gateway.reply(T.topoAdd, 401);
    await ctx.settle();
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'online');
    assert.equal(ctx.last('meter-1'), 'login-failed:401');
  });

  /** The sub-devices named in the last batch login. */
  const lastLogin = (ctx: ReturnType<typeof setup>) =>
    (
      [...ctx.gateway.sent].reverse().find((s) => s.topic === T.login)!.body.params as {
        deviceList: { deviceName: string }[];
      }
    ).deviceList.map((d) => d.deviceName);
  const pair = (deviceName: string) => ({ productKey: 'subPK', deviceName });
  /** The gateway comes online and reads `topology`: the first batch login is out. */
  const firstLogin = async (ctx: ReturnType<typeof setup>, topology: string[]) => {
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.gateway.reply(T.topoGet, 200, topology.map(pair));
    await ctx.settle();
  };

  it('a batch refused for one sub-device it names: that one stops, the rest log in next batch', async (t) => {
    const ctx = setup(t, 3);
    await firstLogin(ctx, ['meter-0', 'meter-1', 'meter-2']);
    // All or nothing (PLATFORM.md §11): the failure's data names the one at fault.
    ctx.gateway.reply(T.login, 6287, [pair('meter-1')]);
    await ctx.settle();
    assert.equal(ctx.last('meter-1'), 'login-failed:6287');
    assert.equal(ctx.last('meter-0'), 'logging-in');
    ctx.tick(LOGIN_SPACING_MS);
    await ctx.settle();
    assert.deepEqual(lastLogin(ctx), ['meter-0', 'meter-2']);
    ctx.gateway.reply(T.login, 200, [pair('meter-0'), pair('meter-2')]);
    await ctx.settle();
    assert.deepEqual(['meter-0', 'meter-1', 'meter-2'].map(ctx.last), ['online', 'login-failed:6287', 'online']);
  });

  it('a batch refused naming no one: each logs in by itself, so only the bad one stops', async (t) => {
    const ctx = setup(t, 3);
    await firstLogin(ctx, ['meter-0', 'meter-1', 'meter-2']);
    ctx.gateway.reply(T.login, 6401, {});
    await ctx.settle();
    const answers: Record<string, number> = { 'meter-0': 200, 'meter-1': 6401, 'meter-2': 200 };
    for (let i = 0; i < 3; i++) {
      ctx.tick(LOGIN_SPACING_MS);
      await ctx.settle();
      const [alone, ...others] = lastLogin(ctx);
      assert.deepEqual(others, [], 'one by one');
      ctx.gateway.reply(T.login, answers[alone!]!);
      await ctx.settle();
    }
    assert.deepEqual(['meter-0', 'meter-1', 'meter-2'].map(ctx.last), ['online', 'login-failed:6401', 'online']);
    assert.equal(ctx.gateway.count(T.login), 4);
  });

  it('a topo/add refused for the one it names: the others are added again without it', async (t) => {
    const ctx = setup(t, 3);
    await firstLogin(ctx, []);
    ctx.gateway.reply(T.topoAdd, 401, [pair('meter-2')]);
    await ctx.settle();
    const adds = ctx.gateway.sent.filter((s) => s.topic === T.topoAdd);
    assert.deepEqual(
      (adds.at(-1)!.body.params as { deviceName: string }[]).map((p) => p.deviceName),
      ['meter-0', 'meter-1'],
    );
    ctx.gateway.reply(T.topoAdd, 200);
    await ctx.settle();
    assert.deepEqual(lastLogin(ctx), ['meter-0', 'meter-1']);
    assert.equal(ctx.last('meter-2'), 'login-failed:401');
  });

  it('a retry timer left from a refusal does not log in again one that a topo/change brought online', async (t) => {
    const ctx = setup(t, 1);
    await firstLogin(ctx, ['meter-0']);
    ctx.gateway.reply(T.login, 429);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'retrying:429');
    // The cloud enables it before the retry: it logs in now...
    ctx.gateway.deliver(T.topoChange, { id: '5', params: { status: 2, subList: [pair('meter-0')] } });
    ctx.tick(LOGIN_SPACING_MS);
    await ctx.settle();
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    // ...and a second notice while it is on its way in would not queue it again either.
    assert.equal(ctx.last('meter-0'), 'online');
    const logins = ctx.gateway.count(T.login);
    ctx.tick(60_000);
    await ctx.settle();
    assert.equal(ctx.gateway.count(T.login), logins, 'the old retry timer did nothing');
    assert.equal(ctx.last('meter-0'), 'online');
  });

  it('one removed while its batch waits for the topology is not logged in after its logout', async (t) => {
    const ctx = setup(t, 2);
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.detach[1]!();
    assert.equal(ctx.gateway.count(T.logout), 1);
    ctx.gateway.reply(T.topoGet, 200, ['meter-0', 'meter-1'].map(pair));
    await ctx.settle();
    assert.deepEqual(lastLogin(ctx), ['meter-0']);
    ctx.gateway.reply(T.login, 500);
    await ctx.settle();
    ctx.tick(3600_000);
    await ctx.settle();
    assert.ok(
      ctx.gateway.sent.filter((s) => s.topic === T.login).every((s) => !JSON.stringify(s.body).includes('meter-1')),
      'never in a login',
    );
  });

  it('/ext/error: 520 logs in again at once, 427 is kicked and waits, 6401 stops', async (t) => {
    const ctx = setup(t, 3);
    await online(ctx, ['meter-0', 'meter-1', 'meter-2']);
    const err = (code: number, deviceName: string) =>
      ctx.gateway.deliver(T.error, { id: '9', code, data: { productKey: 'subPK', deviceName }, message: 'x' });
    err(520, 'meter-0');
    assert.equal(ctx.last('meter-0'), 'logging-in');
    ctx.tick(LOGIN_SPACING_MS);
    await ctx.settle();
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'online');
    err(427, 'meter-1');
    assert.equal(ctx.last('meter-1'), 'kicked:427');
    err(6401, 'meter-2');
    assert.equal(ctx.last('meter-2'), 'login-failed:6401');
    const logins = ctx.gateway.count(T.login);
    ctx.tick(DEFAULT_BACKOFF.authBaseMs - 3);
    assert.equal(ctx.gateway.count(T.login), logins, 'kicked waits like a refused login');
    ctx.tick(1);
    await ctx.settle();
    assert.equal(ctx.gateway.count(T.login), logins + 1);
    const retried = ctx.gateway.sent.filter((s) => s.topic === T.login).at(-1)!;
    assert.deepEqual(
      (retried.body.params as { deviceList: { deviceName: string }[] }).deviceList.map((d) => d.deviceName),
      ['meter-1'],
      'the stopped one is not in it',
    );
  });

  it('topo/change from the cloud: deleted or disabled stops a sub-device, added or enabled logs it in', async (t) => {
    const ctx = setup(t, 2);
    await online(ctx, ['meter-0', 'meter-1']);
    const change = (status: number, deviceName: string) =>
      ctx.gateway.deliver(T.topoChange, {
        id: '5',
        version: '1.0',
        method: 'thing.topo.change',
        params: { status, subList: [{ productKey: 'subPK', deviceName }] },
      });
    change(8, 'meter-0');
    assert.equal(ctx.last('meter-0'), 'login-failed:522');
    change(1, 'meter-1');
    assert.equal(ctx.last('meter-1'), 'login-failed:6401');
    const logins = ctx.gateway.count(T.login);
    ctx.tick(3600_000);
    assert.equal(ctx.gateway.count(T.login), logins, 'stopped: no retry on their own');
    change(2, 'meter-0');
    change(0, 'meter-1');
    assert.equal(ctx.last('meter-0'), 'logging-in');
    ctx.tick(LOGIN_SPACING_MS);
    await ctx.settle();
    // meter-1 was deleted from the topology and added back: no topo/add needed, the cloud did it.
    assert.equal(ctx.gateway.count(T.topoAdd), 0);
    ctx.gateway.reply(T.login, 200);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'online');
    assert.equal(ctx.last('meter-1'), 'online');
    ctx.gateway.deliver(T.topoChange, 'not json');
    assert.equal(ctx.last('meter-1'), 'online', 'a malformed notice changes nothing');
  });

  it('a gateway drop takes every sub-device offline; the reconnect logs them in again', async (t) => {
    const ctx = setup(t, 2);
    await online(ctx, ['meter-0', 'meter-1']);
    ctx.gateway.go('disconnected');
    assert.equal(ctx.last('meter-0'), 'gateway-offline');
    assert.equal(ctx.last('meter-1'), 'gateway-offline');
    await online(ctx, ['meter-0', 'meter-1']);
    assert.equal(ctx.gateway.count(T.topoGet), 2, 'the topology is read again');
    assert.equal(ctx.gateway.count(T.login), 2);
    assert.equal(ctx.last('meter-1'), 'online');
  });

  it('a reply that never comes fails the batch with REPLY_TIMEOUT and retries it', async (t) => {
    const ctx = setup(t, 1);
    ctx.gateway.go('connected');
    ctx.tick(0);
    ctx.tick(5000);
    await ctx.settle();
    assert.equal(ctx.last('meter-0'), 'retrying:REPLY_TIMEOUT');
    ctx.tick(999);
    await ctx.settle();
    assert.equal(ctx.gateway.count(T.topoGet), 2);
  });

  it('removing an online sub-device logs it out', async (t) => {
    const ctx = setup(t, 2);
    await online(ctx, ['meter-0', 'meter-1']);
    ctx.detach[1]!();
    ctx.detach[1]!();
    const logouts = ctx.gateway.sent.filter((s) => s.topic === T.logout);
    assert.equal(logouts.length, 1);
    assert.deepEqual(logouts[0]!.body.params, [{ productKey: 'subPK', deviceName: 'meter-1' }]);
    // Its login on the way (the platform may have logged it in already): logged out as well.
    ctx.gateway.deliver(T.error, { code: 520, data: { productKey: 'subPK', deviceName: 'meter-0' } });
    assert.equal(ctx.last('meter-0'), 'logging-in');
    ctx.detach[0]!();
    assert.equal(ctx.gateway.count(T.logout), 2);
    ctx.session.close();
  });
  describe('registration through the gateway (thing/sub/register)', () => {
    /** One sub-device in registration mode, its secret blank, kept in `store`. */
    function registering(t: TestContext, store: CredentialStore, deviceSecret = '') {
      const ctx = setup(t, 0);
      const states: string[] = [];
      const warnings: string[] = [];
      const device = { productKey: 'subPK', deviceName: 'reg-0', deviceSecret };
      ctx.session.attach({
        device,
        cleanSession: true,
        store,
        warn: (code) => warnings.push(code),
        changed: (state, code) => states.push(code === undefined ? state : `${state}:${code}`),
      });
      ctx.gateway.go('connected');
      ctx.tick(0);
      return { ...ctx, states, warnings };
    }

    it('registers a sub-device without a secret, keeps the secret, and signs topo/add and login with it', async (t) => {
      const store = memoryStore();
      const ctx = registering(t, store);
      await ctx.settle();
      const register = ctx.gateway.sent.find((s) => s.topic === T.register);
      assert.deepEqual(register?.body.params, [{ productKey: 'subPK', deviceName: 'reg-0' }]);
      assert.equal(ctx.gateway.count(T.topoGet), 0, 'the secret comes first');
      ctx.gateway.reply(T.register, 200, [
        { iotId: 'i', productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'issued-secret' },
      ]);
      await ctx.settle();
      assert.deepEqual(await store.load(), { productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'issued-secret' });
      ctx.gateway.reply(T.topoGet, 200, []);
      await ctx.settle();
      const add = ctx.gateway.sent.find((s) => s.topic === T.topoAdd);
      const [entry] = add?.body.params as { sign: string; timestamp: string }[];
      const expected = signSubDevice(
        { productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'issued-secret' },
        'hmacsha256',
        Number(entry?.timestamp),
      );
      assert.equal(entry?.sign, expected.sign);
      ctx.gateway.reply(T.topoAdd, 200);
      await ctx.settle();
      ctx.gateway.reply(T.login, 200);
      await ctx.settle();
      assert.equal(ctx.states.at(-1), 'online');
      // After a gateway reconnect it logs in with the secret it has: no second registration.
      ctx.gateway.go('disconnected');
      ctx.gateway.go('connected');
      ctx.tick(LOGIN_SPACING_MS);
      await ctx.settle();
      assert.equal(ctx.gateway.count(T.register), 1);
      assert.equal(ctx.gateway.count(T.topoGet), 2);
    });

    it('a registration answered after its deadline: the secret is kept and the sub-device logs in with it', async (t) => {
      const store = memoryStore();
      const ctx = registering(t, store);
      await ctx.settle();
      const register = ctx.gateway.sent.find((s) => s.topic === T.register)!;
      ctx.tick(5000);
      await ctx.settle();
      assert.equal(ctx.states.at(-1), 'retrying:REPLY_TIMEOUT');
      // The platform issued it all the same, once: asked again it would answer 6289.
      ctx.gateway.deliver(`${T.register}_reply`, {
        id: register.body.id,
        code: 200,
        data: [{ iotId: 'i', productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'late-secret' }],
        message: 'success',
      });
      await ctx.settle();
      assert.deepEqual(await store.load(), { productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'late-secret' });
      assert.equal(ctx.states.at(-1), 'logging-in', 'at once, not after the backoff');
      ctx.tick(LOGIN_SPACING_MS);
      await ctx.settle();
      ctx.gateway.reply(T.topoGet, 200, [{ productKey: 'subPK', deviceName: 'reg-0' }]);
      await ctx.settle();
      ctx.gateway.reply(T.login, 200);
      await ctx.settle();
      assert.equal(ctx.states.at(-1), 'online');
      assert.equal(ctx.gateway.count(T.register), 1, 'never registered twice');
    });

    it('uses a kept secret without registering', async (t) => {
      const store = memoryStore();
      await store.save({ productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'kept' });
      const ctx = registering(t, store);
      await ctx.settle();
      assert.equal(ctx.gateway.count(T.register), 0);
      assert.equal(ctx.gateway.count(T.topoGet), 1);
    });

    it('uses the secret the user entered without registering', async (t) => {
      const given = registering(t, memoryStore(), 'typed-in');
      await given.settle();
      assert.equal(given.gateway.count(T.register), 0);
      assert.equal(given.gateway.count(T.topoGet), 1);
    });

    it("a store that can't be read warns; 6289 (registered before, secret lost) stops", async (t) => {
      const failing: CredentialStore = {
        load: () => Promise.reject(new Error('disk gone')),
        save: () => Promise.resolve(),
      };
      const ctx = registering(t, failing);
      await ctx.settle();
      assert.deepEqual(ctx.warnings, ['SECRET_NOT_LOADED']);
      ctx.gateway.reply(T.register, 6289);
      await ctx.settle();
      assert.equal(ctx.states.at(-1), 'login-failed:6289');
      ctx.tick(3600_000);
      assert.equal(ctx.gateway.count(T.register), 1, 'no retry until the user acts');
    });

    it('a registered secret that cannot be kept is warned about, and the login goes on', async (t) => {
      const save = () => Promise.reject(new Error('disk full'));
      const saving = registering(t, { load: () => Promise.resolve(undefined), save });
      await saving.settle();
      saving.gateway.reply(T.register, 200, [{ productKey: 'subPK', deviceName: 'reg-0', deviceSecret: 'x' }]);
      await saving.settle();
      assert.deepEqual(saving.warnings, ['SECRET_NOT_SAVED']);
      assert.equal(saving.gateway.count(T.topoGet), 1, 'logs in all the same');
    });
  });
});
