// The AMQP consumer against the emulator's AMQP server, without Node-RED: a link the server ends
// while keeping the connection, and messages still arriving while the consumer stops.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { validateAccountOptions } from '../../nodes/lib/cloud/account-options';
import { AmqpConsumer, type AmqpLinkStatus, type AmqpMessage } from '../../nodes/lib/cloud/amqp-consumer';
import { eventually, start } from '../helpers/emulator';

const account = { accessKeyId: 'LTAI5tConsumer', accessKeySecret: 'consumer-access-key-secret' };
const GROUPS = ['G_DETACH', 'G_STOP'];
const productOf = (group: string) => `pk${group}`;

describe('AMQP consumer (emulator)', () => {
  let emu: Emulator;
  let sequence = 0;
  before(async () => {
    emu = await start({
      accounts: [account],
      consumerGroups: GROUPS.map((id) => ({ id, productKeys: [productOf(id)] })),
    });
  });
  after(() => emu.close());

  function publish(group: string, n: number): void {
    const productKey = productOf(group);
    emu.amqp.publish({
      topic: `/${productKey}/dev/user/update`,
      payload: Buffer.from(String(n)),
      messageId: `m-${++sequence}`,
      generateTime: Date.now(),
      productKey,
      deviceName: 'dev',
    });
  }

  function consumer(group: string, message: (m: AmqpMessage, settle: () => void) => void, port = emu.ports.amqp) {
    const validated = validateAccountOptions({
      ...account,
      amqpHost: emu.host,
      amqpPort: String(port),
      ca: emu.ca,
    });
    assert.ok(validated.ok);
    const statuses: (readonly AmqpLinkStatus[])[] = [];
    const c = new AmqpConsumer(
      {
        account: validated.options,
        consumerGroupId: group,
        clientId: `client-${group}`,
        connections: 1,
        openDeadlineMs: 300,
      },
      { message, status: (links) => statuses.push(links) },
      { backoff: { baseMs: 100, maxMs: 100, authBaseMs: 100, authMaxMs: 100, jitter: 0 } },
    );
    return { consumer: c, statuses, open: () => statuses.at(-1)?.[0]?.state === 'open' };
  }

  it('a link the server detaches, the connection kept, comes back on a new connection', async () => {
    const got: string[] = [];
    const { consumer: c, open } = consumer('G_DETACH', (m, settle) => {
      got.push(m.payload.toString());
      settle();
    });
    c.start();
    try {
      await eventually(() => open() && emu.amqp.connections('G_DETACH').length === 1, 10_000, 'attached');
      publish('G_DETACH', 1);
      await eventually(() => got.length === 1, 5000, 'the first message');
      assert.equal(emu.amqp.detach('client-G_DETACH'), 1);
      await eventually(() => !open(), 5000, 'the status shows the link gone');
      await eventually(() => open() && emu.amqp.connections('G_DETACH').length === 1, 10_000, 'attached again');
      publish('G_DETACH', 2);
      await eventually(() => got.length === 2, 5000, 'the next message');
      assert.deepEqual(got, ['1', '2']);
      assert.equal(c.stats().reconnects, 1);
    } finally {
      await c.stop();
    }
  });

  it('a server that takes the connection and never answers is given up on, and tried again', async () => {
    // A black hole: the TCP connection is accepted, the TLS handshake never answered.
    const held: Socket[] = [];
    const hole = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hole.listen(0, emu.host, resolve));
    const { consumer: c, statuses } = consumer('G_DETACH', () => undefined, (hole.address() as AddressInfo).port);
    c.start();
    try {
      await eventually(() => held.length >= 2, 10_000, 'a second attempt after the deadline');
      const given = statuses.find((s) => s[0]?.state === 'backoff');
      assert.match(given?.[0]?.error ?? '', /no AMQP link within 0.3 s/);
    } finally {
      await c.stop();
      for (const socket of held) socket.destroy();
      hole.close();
    }
  });

  it('hands nothing to the flow once stopping, even what is still arriving', async () => {
    const got: string[] = [];
    let stopping: Promise<void> | undefined;
    const { consumer: c, open } = consumer('G_STOP', (m) => {
      got.push(m.payload.toString());
      // The node closes while the rest of the burst is on the wire.
      stopping ??= c.stop();
    });
    c.start();
    await eventually(() => open(), 10_000, 'attached');
    for (let n = 0; n < 50; n++) publish('G_STOP', n);
    await eventually(() => stopping !== undefined, 5000, 'the first message');
    await stopping;
    assert.deepEqual(got, ['0']);
    // Never settled by the flow: all of it goes back to the group for whoever attaches next.
    await eventually(() => emu.amqp.counters('G_STOP').queued === 50, 5000, 'all back in the group');
  });
});
