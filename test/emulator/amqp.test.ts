// The AMQP server-side subscription (PLATFORM.md §17.1) against a real rhea client written the way
// the platform's Node sample does it: the login, the link rules, consumer groups, credit and ACKs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect as connectTls } from 'node:tls';
import type { DataFlowMessage, Emulator, EmulatorOptions } from '../../emulator/index';
import { ACCOUNT, subscribe, type LoginParts, type Subscriber } from '../helpers/amqp-client';
import { eventually, sleep, start } from '../helpers/emulator';

const GROUP = 'GROUP_A';
const OTHER = 'GROUP_B';

let sequence = 0;
function message(n = ++sequence): DataFlowMessage {
  return {
    topic: '/pkAmqp/dev/user/update',
    payload: Buffer.from(JSON.stringify({ n })),
    messageId: `msg-${n}`,
    generateTime: 1_700_000_000_000 + n,
    productKey: 'pkAmqp',
    deviceName: 'dev',
  };
}

describe('emulator: AMQP login (SASL PLAIN with an AccessKey)', () => {
  let emu: Emulator;
  const logs: string[] = [];
  const open: Subscriber[] = [];
  const login = (parts: Partial<LoginParts> & { clientId: string }) => {
    const sub = subscribe(emu, { consumerGroupId: GROUP, ...parts });
    open.push(sub);
    return sub;
  };

  before(async () => {
    emu = await start({ accounts: [ACCOUNT], consumerGroups: [{ id: GROUP }], log: (l) => logs.push(l) });
  });
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
    await emu.close();
  });

  it('takes the three sign methods and every form of an empty instance ID, and lists the clients', async () => {
    const subs = [
      login({ clientId: 'sha1', signMethod: 'hmacsha1' }),
      login({ clientId: 'sha256', signMethod: 'hmacsha256', iotInstanceId: '' }),
      login({ clientId: 'md5', signMethod: 'hmacmd5', iotInstanceId: null }),
    ];
    await Promise.all(subs.map((s) => s.opened));
    await eventually(() => emu.amqp.connections(GROUP).length === 3, 5000, 'three links');
    assert.deepEqual(emu.amqp.connections(GROUP).sort(), ['md5', 'sha1', 'sha256']);
  });

  it('refuses a wrong password, an unknown AccessKey or group, an instance ID, a long clientId', async () => {
    const refused = [
      login({ clientId: 'wrong-secret', accessKeySecret: 'not-the-secret' }),
      login({ clientId: 'unknown-key', accessKeyId: 'LTAI5tNobody' }),
      login({ clientId: 'unknown-group', consumerGroupId: 'NO_SUCH_GROUP' }),
      login({ clientId: 'named-instance', iotInstanceId: 'iot-06z00other' }),
      login({ clientId: 'x'.repeat(65) }),
    ];
    for (const sub of refused) {
      await assert.rejects(sub.opened);
      assert.equal(sub.error?.condition, 'amqp:unauthorized-access');
    }
    for (const reason of ['signature', 'unknown-access-key', 'unknown-group', 'instance', 'client-id']) {
      assert.ok(
        logs.some((l) => l.endsWith(`: ${reason}`)),
        `${reason} in ${logs.join('\n')}`,
      );
    }
    assert.ok(!logs.some((l) => l.includes(ACCOUNT.accessKeySecret) || l.includes('not-the-secret')));
  });

  it('closes a connection whose idle-time-out is outside 30-300 s', async () => {
    for (const idleTimeOut of [10_000, 400_000]) {
      const sub = subscribe(emu, { clientId: `idle-${idleTimeOut}`, consumerGroupId: GROUP }, { idleTimeOut });
      open.push(sub);
      await sub.closed;
      assert.equal(sub.error?.condition, 'amqp:invalid-field');
    }
    const none = subscribe(emu, { clientId: 'idle-none', consumerGroupId: GROUP }, { idleTimeOut: undefined });
    open.push(none);
    await none.opened;
  });
});

describe('emulator: AMQP with an instance ID', () => {
  it('requires the instance ID the emulator has', async () => {
    const emu = await start({
      accounts: [ACCOUNT],
      consumerGroups: [{ id: GROUP }],
      iotInstanceId: 'iot-06z00amqp',
      log: () => undefined,
    });
    try {
      for (const iotInstanceId of [null, '', '""', 'iot-06z00other']) {
        const sub = subscribe(emu, { clientId: 'no-instance', consumerGroupId: GROUP, iotInstanceId });
        await assert.rejects(sub.opened);
      }
      const sub = subscribe(emu, { clientId: 'instance', consumerGroupId: GROUP, iotInstanceId: 'iot-06z00amqp' });
      await sub.opened;
      await sub.close();
    } finally {
      await emu.close();
    }
  });
});

describe('emulator: AMQP links, consumer groups, credit and ACKs', () => {
  let emu: Emulator;
  const open: Subscriber[] = [];
  const options: EmulatorOptions = {
    accounts: [ACCOUNT],
    consumerGroups: [{ id: GROUP }, { id: OTHER }],
    // No ACK timeout within a test unless one says so: a slow machine must not cause a second push.
    amqp: { ackTimeoutMs: 60_000, linkDeadlineMs: 400 },
  };
  const join = (clientId: string, group = GROUP, more: Parameters<typeof subscribe>[2] = {}) => {
    const sub = subscribe(emu, { clientId, consumerGroupId: group }, more);
    open.push(sub);
    return sub;
  };
  const ids = (sub: Subscriber) => sub.received.map((r) => r.messageId);

  before(async () => {
    emu = await start(options);
  });
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
    await emu.close();
  });

  /** A new emulator: nothing queued, no connections; `amqp` replaces the timings. */
  async function fresh(amqp = options.amqp): Promise<void> {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await emu.close();
    emu = await start({ ...options, amqp });
  }

  it('sends the body as binary with topic, messageId and generateTime', async () => {
    const sub = join('props');
    await sub.opened;
    const sent = message();
    emu.amqp.publish(sent);
    await eventually(() => sub.received.length === 1, 5000, 'the message');
    const got = sub.received[0];
    assert.ok(got);
    assert.deepEqual(got.body, sent.payload);
    assert.equal(got.message.message_id, sent.messageId);
    assert.deepEqual(got.message.application_properties, {
      topic: sent.topic,
      messageId: sent.messageId,
      generateTime: sent.generateTime,
    });
    await eventually(() => emu.amqp.counters(GROUP).accepted === 1, 5000, 'the accept');
  });

  it('a group subscribed to some products gets only their data', async () => {
    await fresh();
    await emu.close();
    emu = await start({
      ...options,
      consumerGroups: [{ id: GROUP, productKeys: ['pkOther'] }, { id: OTHER }],
    });
    const [mine, all] = [join('only-other'), join('all', OTHER)];
    await eventually(() => emu.amqp.connections(GROUP).length === 1 && emu.amqp.connections(OTHER).length === 1);
    emu.amqp.publish(message());
    emu.amqp.publish({ ...message(), productKey: 'pkOther', topic: '/pkOther/dev/user/update' });
    await eventually(() => all.received.length === 2, 5000, 'both at the group of every product');
    await eventually(() => mine.received.length === 1, 5000, "the other product's at the narrow group");
    assert.equal(mine.received[0]!.message.application_properties?.topic, '/pkOther/dev/user/update');
    assert.equal(emu.amqp.counters(GROUP).queued, 0, 'nothing of pkAmqp queued for it');
  });

  it('spreads a group over its connections, each message once; every group gets everything', async () => {
    await fresh();
    const [a, b, c] = [join('a'), join('b'), join('other', OTHER)];
    await eventually(() => emu.amqp.connections(GROUP).length === 2 && emu.amqp.connections(OTHER).length === 1);
    // A link is listed from its attach, but gets messages only once its credit arrives: messages
    // go out one per poll until both have had some.
    const sent: DataFlowMessage[] = [];
    await eventually(
      () => {
        const next = message();
        sent.push(next);
        emu.amqp.publish(next);
        return ids(a).length > 0 && ids(b).length > 0;
      },
      5000,
      'messages at both connections',
    );
    const n = sent.length;
    const all = sent.map((m) => m.messageId).sort();
    await eventually(() => ids(a).length + ids(b).length === n && ids(c).length === n, 5000, 'all messages');
    assert.deepEqual([...ids(a), ...ids(b)].sort(), all);
    assert.deepEqual([...ids(c)].sort(), all);
    await eventually(() => emu.amqp.counters(GROUP).accepted === n && emu.amqp.counters(OTHER).accepted === n);
    assert.equal(emu.amqp.counters(GROUP).delivered, n);
    assert.equal(emu.amqp.counters(GROUP).redelivered, 0);
  });

  it('sends only against link credit and keeps the rest queued', async () => {
    await fresh();
    const sub = join('manual', GROUP, { creditWindow: 0 });
    await eventually(() => emu.amqp.connections(GROUP).length === 1);
    for (let i = 0; i < 5; i++) emu.amqp.publish(message());
    sub.receiver?.add_credit(2);
    await eventually(() => sub.received.length === 2, 5000, 'two messages');
    // Proving that nothing more comes without credit: a short bounded wait.
    await sleep(300);
    assert.equal(sub.received.length, 2);
    assert.equal(emu.amqp.counters(GROUP).queued, 3);
    sub.receiver?.add_credit(3);
    await eventually(() => sub.received.length === 5, 5000, 'the other three');
    assert.deepEqual(emu.amqp.counters(GROUP).queued, 0);
  });

  it('keeps what nobody can take in a bounded queue, dropping the oldest, and delivers it on attach', async () => {
    await fresh({ ...options.amqp, queueLimit: 3 });
    const sent = Array.from({ length: 5 }, () => message());
    for (const m of sent) emu.amqp.publish(m);
    assert.deepEqual([emu.amqp.counters(GROUP).queued, emu.amqp.counters(GROUP).dropped], [3, 2]);
    const late = join('late');
    await eventually(() => late.received.length === 3, 5000, 'the queued messages');
    assert.deepEqual(
      ids(late).sort(),
      sent
        .slice(2)
        .map((m) => m.messageId)
        .sort(),
    );
  });

  it('pushes an unaccepted message again after the ACK timeout, and until it is accepted', async () => {
    await fresh({ ...options.amqp, ackTimeoutMs: 300 });
    const sub = join('slow', GROUP, { autoaccept: false });
    await eventually(() => emu.amqp.connections(GROUP).length === 1);
    const sent = message();
    emu.amqp.publish(sent);
    await eventually(() => sub.received.length >= 2, 5000, 'the message twice');
    assert.deepEqual(new Set(ids(sub)), new Set([sent.messageId]));
    assert.ok(emu.amqp.counters(GROUP).redelivered >= 1);
    // Accepting what came: one push of it is accepted in time (a late accept of an earlier push counts nothing).
    const accepted = new Set<unknown>();
    await eventually(
      () => {
        for (const r of sub.received) {
          if (accepted.has(r.delivery)) continue;
          accepted.add(r.delivery);
          r.delivery.accept();
        }
        return emu.amqp.counters(GROUP).accepted === 1;
      },
      5000,
      'the accept',
    );
  });

  it("puts a closed connection's unsettled messages back at once, to another connection", async () => {
    // The ACK timeout is far beyond the test: what comes to `second` comes from the close.
    await fresh();
    const first = join('holds', GROUP, { autoaccept: false });
    await eventually(() => emu.amqp.connections(GROUP).length === 1);
    const sent = [message(), message()];
    for (const m of sent) emu.amqp.publish(m);
    await eventually(() => first.received.length === 2, 5000, 'both at the first');
    const second = join('takes-over');
    await eventually(() => emu.amqp.connections(GROUP).length === 2);
    await first.close();
    await eventually(() => second.received.length === 2, 5000, 'both at the second');
    assert.deepEqual(ids(second).sort(), sent.map((m) => m.messageId).sort());
    // kick() cuts a connection the same way.
    const third = join('kicked', GROUP, { autoaccept: false });
    await eventually(() => emu.amqp.connections(GROUP).length === 2);
    await second.close();
    emu.amqp.publish(message());
    await eventually(() => third.received.length === 1);
    const fourth = join('after-kick');
    await eventually(() => emu.amqp.connections(GROUP).includes('after-kick'));
    assert.equal(emu.amqp.kick('kicked'), 1);
    await third.closed;
    await eventually(() => fourth.received.length === 1, 5000, 'the kicked message');
    assert.ok(emu.amqp.counters(GROUP).redelivered >= 3);
  });

  it('cuts a TCP connection that does not log in in time', async () => {
    await fresh({ ...options.amqp, authTimeoutMs: 300 });
    const socket = connectTls({ host: emu.host, port: emu.ports.amqp, ca: emu.ca, servername: 'localhost' });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  });

  it('closes a connection that attaches no receiver link in time', async () => {
    await fresh();
    const idle = join('no-link', GROUP, { attach: false });
    await idle.opened;
    await idle.closed;
    assert.equal(idle.error?.condition, 'amqp:not-allowed');
  });

  it('refuses a second receiver link and a sender link; the first link keeps working', async () => {
    await fresh();
    const sub = join('greedy');
    await eventually(() => emu.amqp.connections(GROUP).length === 1);
    sub.connection.open_receiver({ source: { address: 'second' } });
    sub.connection.open_sender({ target: { address: 'upstream' } });
    await eventually(() => sub.linkErrors.length === 2, 5000, 'two refusals');
    assert.deepEqual(
      sub.linkErrors.map((e) => e.condition),
      ['amqp:not-allowed', 'amqp:not-allowed'],
    );
    emu.amqp.publish(message());
    await eventually(() => sub.received.length === 1);
    assert.deepEqual(emu.amqp.connections(GROUP), ['greedy']);
  });
});
