// The device shadow's client over a fake connection (mock timers): the version kept one above the
// shadow's, a 403 conflict resynchronised with a get, the desired state read on every connect and
// pushed by `control`, the "null" convention hidden, replies matched by clientToken.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import type { ConnectionState, Delivery, DeviceChannel } from '../../nodes/lib/connection';
import { deleteKeys, fromWire, parseShadowMessage } from '../../nodes/lib/shadow';
import { ShadowClient, type ShadowSnapshot } from '../../nodes/lib/shadow-client';

const device = { productKey: 'pkS', deviceName: 'lamp' };
const UPDATE = '/shadow/update/pkS/lamp';
const GET = '/shadow/get/pkS/lamp';

interface Request {
  method: string;
  state?: Record<string, unknown>;
  version?: number;
  clientToken: string;
}

/** A device connection that records what is published and lets the test play the platform. */
class FakeChannel extends EventEmitter {
  readonly options = device;
  state: ConnectionState = 'connecting';
  readonly sent: Request[] = [];
  private deliver: ((d: Delivery) => void) | undefined;

  subscribe(filter: string, _qos: 0 | 1, deliver: (d: Delivery) => void) {
    assert.equal(filter, GET);
    this.deliver = deliver;
    return { close: () => (this.deliver = undefined) };
  }

  publish(topic: string, payload: string, _qos: 0 | 1, done: (err?: Error) => void): void {
    assert.equal(topic, UPDATE);
    this.sent.push(JSON.parse(payload) as Request);
    done();
  }

  go(state: ConnectionState): void {
    this.state = state;
    this.emit('state', { state });
  }

  /** The platform answers the last request (its clientToken echoed unless `echo` is false). */
  answer(payload: Record<string, unknown>, top: Record<string, unknown> = {}, echo = true): void {
    const last = this.sent.at(-1)!;
    const body = {
      method: 'reply',
      payload,
      timestamp: 1700000000,
      ...(echo ? { clientToken: last.clientToken } : {}),
      ...top,
    };
    this.deliver!({ topic: GET, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false });
  }

  push(body: Record<string, unknown>): void {
    this.deliver!({ topic: GET, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false });
  }
}

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const channel = new FakeChannel();
  const client = new ShadowClient(channel as unknown as DeviceChannel, 5000);
  const desired: ShadowSnapshot[] = [];
  client.on('desired', (s) => desired.push(s));
  const release = client.attach();
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { channel, client, desired, release, settle };
}

const success = (version: number) => ({ status: 'success', version });
const refused = (code: string) => ({ status: 'error', content: { errorcode: code, errormessage: 'version conflict' } });

describe('device shadow client (fake connection, mock timers)', () => {
  it('reads the shadow on every connect and announces a desired state missed while offline', async (t) => {
    const ctx = setup(t);
    assert.equal(ctx.channel.sent.length, 0, 'nothing before the connection is up');
    ctx.channel.go('connected');
    assert.deepEqual(ctx.channel.sent.at(-1), { method: 'get', clientToken: 'pkS.lamp-1' });
    const state = { reported: { LightSwitch: 0 }, desired: { LightSwitch: 1 } };
    ctx.channel.answer({ status: 'success', state, metadata: {} }, { version: 7 });
    await ctx.settle();
    assert.deepEqual(
      ctx.desired.map((s) => [s.desired, s.version]),
      [[{ LightSwitch: 1 }, 7]],
    );
    assert.equal(ctx.client.version, 7);
    // A reconnect reads it again; an empty desired state says nothing.
    ctx.channel.go('reconnecting');
    ctx.channel.go('connected');
    ctx.channel.answer({ status: 'success', state: { reported: { LightSwitch: 1 } } }, { version: 9 });
    await ctx.settle();
    assert.equal(ctx.desired.length, 1);
    assert.equal(ctx.client.version, 9);
  });

  it('updates one above the version; a 403 conflict reads the shadow and tries once more', async (t) => {
    const ctx = setup(t);
    ctx.channel.go('connected');
    ctx.channel.answer({ status: 'success', state: {} }, { version: 3 });
    await ctx.settle();
    const reported = ctx.client.report({ LightSwitch: 1 });
    assert.deepEqual(ctx.channel.sent.at(-1), {
      method: 'update',
      state: { reported: { LightSwitch: 1 } },
      version: 4,
      clientToken: 'pkS.lamp-2',
    });
    ctx.channel.answer(refused('403'));
    await ctx.settle();
    assert.equal(ctx.channel.sent.at(-1)?.method, 'get', 'resynchronised');
    ctx.channel.answer({ status: 'success', state: {} }, { version: 10 });
    await ctx.settle();
    assert.equal(ctx.channel.sent.at(-1)?.version, 11);
    ctx.channel.answer(success(11));
    assert.equal(await reported, 11);
    // A second conflict in a row is the flow's to see.
    const again = ctx.client.clearDesired();
    ctx.channel.answer(refused('403'));
    await ctx.settle();
    ctx.channel.answer({ status: 'success', state: {} }, { version: 20 });
    await ctx.settle();
    ctx.channel.answer(refused('403'));
    await assert.rejects(again, (err: { code?: string; platformCode?: number }) => {
      assert.equal(err.code, 'SHADOW_REFUSED');
      assert.equal(err.platformCode, 403);
      return true;
    });
  });

  it("the cloud's control push announces the desired state with its version", async (t) => {
    const ctx = setup(t);
    ctx.channel.go('connected');
    ctx.channel.answer({ status: 'error', content: { errorcode: '407', errormessage: 'empty' } });
    await ctx.settle();
    assert.equal(ctx.client.version, 0, 'an empty shadow (407) is no failure');
    ctx.channel.push({
      method: 'control',
      payload: { status: 'success', state: { desired: { Mode: 2, Label: 'null' } }, metadata: {} },
      version: 5,
      timestamp: 1700000000,
    });
    assert.deepEqual(ctx.desired.at(-1)?.desired, { Mode: 2, Label: null });
    assert.equal(ctx.client.desiredPending, true);
    const cleared = ctx.client.clearDesired();
    assert.deepEqual(ctx.channel.sent.at(-1)?.state, { desired: 'null' });
    assert.equal(ctx.channel.sent.at(-1)?.version, 6);
    ctx.channel.answer(success(6));
    assert.equal(await cleared, 6);
    assert.equal(ctx.client.desiredPending, false);
  });

  it('a reported key given as null is deleted (the platform deletes with a delete request)', async (t) => {
    const ctx = setup(t);
    ctx.channel.go('connected');
    ctx.channel.answer({ status: 'success', state: {} }, { version: 1 });
    await ctx.settle();
    const done = ctx.client.report({ LightSwitch: 1, Mode: null });
    assert.deepEqual(ctx.channel.sent.at(-1)?.state, { reported: { LightSwitch: 1 } });
    ctx.channel.answer(success(2));
    await ctx.settle();
    assert.deepEqual(ctx.channel.sent.at(-1), {
      method: 'delete',
      state: { reported: { Mode: 'null' } },
      version: 3,
      clientToken: 'pkS.lamp-3',
    });
    ctx.channel.answer(success(3));
    assert.equal(await done, 3);
  });

  it('matches a reply without clientToken to the oldest request; no reply times out', async (t) => {
    const ctx = setup(t);
    ctx.channel.go('connected');
    ctx.channel.answer({ status: 'success', state: {} }, { version: 1 }, false);
    await ctx.settle();
    assert.equal(ctx.client.version, 1);
    const deleted = ctx.client.deleteReported(['Mode']);
    assert.deepEqual(ctx.channel.sent.at(-1)?.state, { reported: { Mode: 'null' } });
    t.mock.timers.tick(5000);
    await assert.rejects(deleted, { code: 'REPLY_TIMEOUT' });
    const all = ctx.client.deleteReported(undefined);
    assert.deepEqual(ctx.channel.sent.at(-1)?.state, { reported: 'null' });
    ctx.release();
    await assert.rejects(all, { code: 'CONNECTION_CLOSED' });
  });

  it('parses what arrives, and a flow delete payload', () => {
    assert.equal(parseShadowMessage('{"method":"update"}'), undefined);
    assert.equal(parseShadowMessage('not json'), undefined);
    const reply = parseShadowMessage('{"method":"reply","payload":{"status":"success","version":"4"},"timestamp":1}');
    assert.deepEqual([reply?.ok, reply?.version], [true, 4]);
    assert.deepEqual(fromWire({ a: 'null', b: 1 }), { a: null, b: 1 });
    assert.deepEqual(deleteKeys(undefined), { ok: true, keys: undefined });
    assert.deepEqual(deleteKeys('Mode'), { ok: true, keys: ['Mode'] });
    assert.deepEqual(deleteKeys([1]), { ok: false });
    assert.deepEqual(deleteKeys({}), { ok: false });
  });
});
