// The AMQP 1.0 server-side subscription (PLATFORM.md §17.1): TLS only, SASL PLAIN with an AccessKey
// (emulator/amqp-auth.ts), one receiver link per connection, the consumer group's data-flow messages
// (emulator/dataflow.ts) pushed against the link's credit (emulator/amqp-groups.ts).
// Rules enforced: authenticate within 15 s of the TCP connection; attach the receiver link within
// 15 s of the open; exactly one receiver link, no sender link; idle-time-out in the client's open
// 30,000-300,000 ms. Choices (UNVERIFIED): an open without idle-time-out (or 0, "none" in AMQP) is
// accepted; a link after the first one closed is taken; a group receives every product's messages
// unless its spec names products (`productKeys`, as a console subscription does); the emulator's own open asks for 60 s idle-time-out (rhea clients then
// send a heartbeat every 30 s); `flow` drain is not answered (credit is used as messages come).
import type { AddressInfo, Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import rhea, {
  type AmqpError,
  type Connection,
  type Delivery,
  type EventContext,
  type Sender,
  type Source,
  type TerminusOptions,
} from 'rhea';
import type { Accounts } from './accounts';
import { checkAmqpLogin, parseAmqpUserName } from './amqp-auth';
import { ConsumerGroup, type GroupCounters, type Outcome } from './amqp-groups';
import { Client } from './amqp-link';
import type { DataFlowMessage } from './dataflow';

export interface AmqpOptions {
  /** Unsettled deliveries are pushed again after this (30 s, PLATFORM.md §17.1). */
  ackTimeoutMs?: number;
  /** The receiver link must be attached this long after the open (15 s, PLATFORM.md §17.1). */
  linkDeadlineMs?: number;
  /** The SASL login and the open must be done this long after the TCP connection (15 s). */
  authTimeoutMs?: number;
  /** Messages a group keeps for its connections before dropping the oldest (100,000). */
  queueLimit?: number;
}

export const AMQP_DEFAULTS: Required<AmqpOptions> = {
  ackTimeoutMs: 30_000,
  linkDeadlineMs: 15_000,
  authTimeoutMs: 15_000,
  queueLimit: 100_000,
};

/** The idle-time-out a client's open may ask for (PLATFORM.md §17.1). */
export const IDLE_TIME_OUT_MIN_MS = 30_000;
export const IDLE_TIME_OUT_MAX_MS = 300_000;
const SERVER_IDLE_TIME_OUT_MS = 60_000;
/** A connection closed with an error is cut this long after, if the client does not answer the close. */
const CLOSE_GRACE_MS = 2000;

export interface AmqpService {
  readonly port: number;
  /** A consumer group's counters, and how many messages wait in its queue. */
  counters(groupId: string): GroupCounters & { queued: number };
  /** The clientIds of the group's connections with a receiver link attached. */
  connections(groupId: string): string[];
  /** Puts a data-flow message to every consumer group, as the data flow does. */
  publish(message: DataFlowMessage): void;
  /** Cuts the TCP connections of a clientId (a lost network); how many there were. */
  kick(clientId: string): number;
  /**
   * Detaches the receiver links of a clientId and keeps their connections open (a fault to inject:
   * AMQP lets a server end a link alone); what they had not accepted goes back to the group.
   */
  detach(clientId: string): number;
  close(): Promise<void>;
}

/** rhea's server side of SASL PLAIN: the callback answers true to let the login in (lib/sasl.js). */
interface PlainMechanism {
  enable_plain(check: (userName: string | null, password: string | null) => boolean): void;
}

function refusal(condition: string, description: string): AmqpError {
  return { condition, description };
}

/**
 * Ends a TCP connection at once. With an error, so that rhea's connection hears of it (it listens
 * for `error` and `end` only) and stops its heartbeat timers.
 */
function cut(socket: Socket, why: string): void {
  socket.destroy(new Error(why));
}

/** A terminus's address; rhea gives an absent terminus as a typed null. */
function addressOf(terminus: unknown): string | undefined {
  const address = (terminus as { address?: unknown } | null | undefined)?.address;
  return typeof address === 'string' ? address : undefined;
}

/** The SASL user name of an authenticated connection; rhea keeps it on its SASL layer only. */
function saslUserName(connection: Connection): string | undefined {
  return (connection as unknown as { sasl_transport?: { username?: string } }).sasl_transport?.username;
}

export class AmqpServer implements AmqpService {
  private readonly container = rhea.create_container({ id: 'aliyun-iot-emulator' });
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly clients = new Map<Connection, Client>();
  private readonly authTimers = new Map<TLSSocket, NodeJS.Timeout>();
  private readonly sockets = new Set<TLSSocket>();
  private readonly outcomes = new WeakMap<Delivery, (outcome: Outcome) => void>();
  private readonly limits: Required<AmqpOptions>;
  private server: TlsServer | undefined;

  constructor(
    private readonly accounts: Accounts,
    options: AmqpOptions,
    private readonly log: (line: string) => void,
  ) {
    this.limits = { ...AMQP_DEFAULTS, ...options };
    const mechanisms = this.container.sasl_server_mechanisms as PlainMechanism;
    mechanisms.enable_plain((userName, password) => {
      const checked = checkAmqpLogin(this.accounts, userName ?? '', password ?? '');
      if (!checked.ok) {
        // Never the password, nor the user name of a malformed login (it may hold one by mistake).
        const who = checked.clientId === undefined ? '' : ` for clientId ${JSON.stringify(checked.clientId)}`;
        this.log(`aliyun-iot-emulator: AMQP login refused${who}: ${checked.reason}`);
      }
      return checked.ok;
    });
    this.watch();
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  private groupOf(id: string): ConsumerGroup {
    let group = this.groups.get(id);
    if (!group) {
      group = new ConsumerGroup(id, this.limits);
      this.groups.set(id, group);
    }
    return group;
  }

  async listen(port: number, host: string, tls: { cert: string; key: string }): Promise<number> {
    const server = this.container.listen({
      port,
      host,
      transport: 'tls',
      ...tls,
      idle_time_out: SERVER_IDLE_TIME_OUT_MS,
    });
    this.server = server;
    server.on('secureConnection', (socket: TLSSocket) => {
      // Login and open within the auth timeout, or the connection is cut (a refused login too).
      const timer = setTimeout(() => cut(socket, 'no login in time'), this.limits.authTimeoutMs);
      timer.unref();
      this.authTimers.set(socket, timer);
      this.sockets.add(socket);
      socket.once('close', () => {
        clearTimeout(this.authTimers.get(socket));
        this.authTimers.delete(socket);
        this.sockets.delete(socket);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.log(`aliyun-iot-emulator: AMQP server: ${err.message}`));
    return this.port;
  }

  private watch(): void {
    const c = this.container;
    c.on('connection_open', (ctx: EventContext) => this.opened(ctx.connection));
    c.on('sender_open', (ctx: EventContext) => {
      if (ctx.sender) this.linkAttached(ctx.connection, ctx.sender);
    });
    // The client's sender link: the subscription goes one way, cloud to client.
    c.on('receiver_open', (ctx: EventContext) => {
      ctx.receiver?.close(
        refusal('amqp:not-allowed', 'only one receiver link: the subscription sends, it does not receive'),
      );
    });
    const pump = (ctx: EventContext) => this.clients.get(ctx.connection)?.group.pump();
    c.on('sendable', pump);
    c.on('sender_flow', pump);
    const outcome = (result: Outcome) => (ctx: EventContext) => this.settle(ctx.delivery, result);
    c.on('accepted', outcome('accepted'));
    c.on('rejected', outcome('rejected'));
    c.on('released', outcome('released'));
    c.on('modified', outcome('released'));
    // Settled without an outcome: taken as accepted.
    c.on('settled', outcome('accepted'));
    const linkGone = (ctx: EventContext) => {
      const client = this.clients.get(ctx.connection);
      if (client && ctx.sender && client.sender === ctx.sender) {
        client.group.detach(client);
        client.sender = undefined;
      }
    };
    c.on('sender_close', linkGone);
    c.on('sender_error', linkGone);
    const gone = (ctx: EventContext) => this.drop(ctx.connection);
    c.on('connection_close', gone);
    c.on('connection_error', gone);
    c.on('disconnected', gone);
    c.on('receiver_close', () => undefined);
    c.on('receiver_error', () => undefined);
    c.on('error', (err: Error) => this.log(`aliyun-iot-emulator: AMQP: ${err.message}`));
    c.on('protocol_error', (err: Error) => this.log(`aliyun-iot-emulator: AMQP protocol error: ${err.message}`));
  }

  private settle(delivery: Delivery | undefined, outcome: Outcome): void {
    const settled = delivery && this.outcomes.get(delivery);
    if (!delivery || !settled) return;
    this.outcomes.delete(delivery);
    // The client decided: settle our side too, or the delivery stays in rhea's window.
    if (!delivery.settled) delivery.update(true);
    settled(outcome);
  }

  private closeWith(connection: Connection, error: AmqpError): void {
    connection.close(error);
    const socket = connection.get_tls_socket();
    setTimeout(() => socket && cut(socket, 'the close was not answered'), CLOSE_GRACE_MS).unref();
    this.drop(connection);
  }

  private opened(connection: Connection): void {
    const socket = connection.get_tls_socket() as TLSSocket | undefined;
    if (socket) {
      clearTimeout(this.authTimers.get(socket));
      this.authTimers.delete(socket);
    }
    const login = parseAmqpUserName(saslUserName(connection) ?? '');
    const groupId = login?.params.get('consumerGroupId');
    if (!login || groupId === undefined) {
      this.closeWith(connection, refusal('amqp:unauthorized-access', 'not authenticated'));
      return;
    }
    const idle = connection.idle_time_out;
    if (idle !== undefined && idle !== 0 && (idle < IDLE_TIME_OUT_MIN_MS || idle > IDLE_TIME_OUT_MAX_MS)) {
      const range = `${IDLE_TIME_OUT_MIN_MS}-${IDLE_TIME_OUT_MAX_MS} ms`;
      this.closeWith(connection, refusal('amqp:invalid-field', `idle-time-out ${idle} ms is outside ${range}`));
      return;
    }
    const client = new Client(connection, socket, login.clientId, this.groupOf(groupId), this.outcomes);
    this.clients.set(connection, client);
    socket?.once('close', () => this.drop(connection));
    client.linkTimer = setTimeout(() => {
      if (!client.sender) {
        const seconds = this.limits.linkDeadlineMs / 1000;
        this.closeWith(connection, refusal('amqp:not-allowed', `no receiver link within ${seconds} s of the open`));
      }
    }, this.limits.linkDeadlineMs);
    client.linkTimer.unref();
  }

  private linkAttached(connection: Connection, sender: Sender): void {
    const client = this.clients.get(connection);
    if (!client || client.sender) {
      sender.close(refusal('amqp:not-allowed', 'one receiver link per connection'));
      return;
    }
    // Answer with the source the client asked for (any address, or none, PLATFORM.md §17.1):
    // an attach without one would read as a refusal to clients such as qpid-jms.
    const asked = sender as unknown as { source?: unknown; target?: unknown };
    sender.set_source({ address: addressOf(asked.source) } as Source);
    sender.set_target({ address: addressOf(asked.target) } as TerminusOptions);
    clearTimeout(client.linkTimer);
    client.attach(sender);
    client.group.attach(client);
  }

  /** The connection is gone (or going): what it had not accepted goes back to its group at once. */
  private drop(connection: Connection): void {
    const client = this.clients.get(connection);
    if (!client) return;
    this.clients.delete(connection);
    clearTimeout(client.linkTimer);
    client.sender = undefined;
    client.group.detach(client);
  }

  counters(groupId: string): GroupCounters & { queued: number } {
    const group = this.groups.get(groupId);
    if (!group) return { delivered: 0, accepted: 0, rejected: 0, redelivered: 0, dropped: 0, queued: 0 };
    return { ...group.counters, queued: group.queued() };
  }

  connections(groupId: string): string[] {
    return this.groups.get(groupId)?.clientIds() ?? [];
  }

  publish(message: DataFlowMessage): void {
    for (const id of this.accounts.groupsFor(message.productKey)) this.groupOf(id).push(message);
  }

  detach(clientId: string): number {
    let detached = 0;
    for (const client of this.clients.values()) {
      const sender = client.sender;
      if (client.clientId !== clientId || !sender) continue;
      client.sender = undefined;
      client.group.detach(client);
      sender.close(refusal('amqp:link:detach-forced', 'the link was detached'));
      detached++;
    }
    return detached;
  }

  kick(clientId: string): number {
    const found = [...this.clients.values()].filter((c) => c.clientId === clientId);
    for (const client of found) {
      this.drop(client.connection);
      if (client.socket) cut(client.socket, 'kicked');
    }
    return found.length;
  }

  async close(): Promise<void> {
    const server = this.server;
    for (const timer of this.authTimers.values()) clearTimeout(timer);
    for (const group of this.groups.values()) group.close();
    for (const client of [...this.clients.values()]) this.drop(client.connection);
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of this.sockets) cut(socket, 'the emulator stops');
    });
  }
}
