// The AMQP server-side subscription as a consumer (PLATFORM.md §17.1): N connections into one
// consumer group, one receiver link each, a bounded credit window that is given back only as the
// flow settles messages (a slow flow slows the stream instead of piling up memory), duplicates by
// messageId dropped, and reconnects with the package's backoff. rhea is loaded on first use, so a
// Node-RED without AMQP nodes never loads it.
import { isIP } from 'node:net';
import type { Connection, Container, Delivery, EventContext, Receiver } from 'rhea';
import { DEFAULT_BACKOFF, retryDelay, type BackoffPolicy } from '../backoff';
import type { AccountOptions } from './account-options';
import { amqpLogin } from './amqp-auth';
import { dataFlowTopic } from './data-flow';

/** Per consumer group (PLATFORM.md §17.1). */
export const MAX_CONNECTIONS = 128;
export const MAX_CREDIT = 1000;
export const DEFAULT_CREDIT = 100;
export const MAX_CLIENT_ID = 64;
/** Within the platform's 30-300 s. */
const IDLE_TIME_OUT_MS = 60_000;
/**
 * From the TCP connect to an attached link at most this long: rhea has no connect timeout, and a
 * peer that takes the connection and never answers (a stalled TLS handshake, a black-holing
 * middlebox) would hold it for good. As long as an MQTT CONNACK is waited for.
 */
export const DEFAULT_OPEN_DEADLINE_MS = 30_000;
/** Settled at the latest this long after delivery: the platform pushes it again after 30 s anyway. */
export const DEFAULT_SETTLE_DEADLINE_MS = 25_000;
/** messageIds remembered to recognise a message pushed again. */
export const DEFAULT_DEDUPE_SIZE = 10_000;

export interface AmqpMessage {
  topic: string;
  payload: Buffer;
  messageId: string;
  generateTime: number | undefined;
  productKey?: string;
  deviceName?: string;
  /** Which of the node's connections it came on, from 0. */
  connection: number;
}

export type AmqpLinkState = 'connecting' | 'open' | 'backoff' | 'auth-failed' | 'closed';

export interface AmqpLinkStatus {
  state: AmqpLinkState;
  /** In backoff: when the next attempt is due, ms from now. */
  nextRetryMs?: number;
  /** The last failure, in the server's words (never a secret: the login is not in it). */
  error?: string;
}

export interface AmqpCounters {
  received: number;
  settled: number;
  /** Settled by the deadline, not by the flow. */
  settledLate: number;
  duplicates: number;
  reconnects: number;
  /** Messages handed to the flow and not yet settled. */
  inFlight: number;
}

export interface AmqpConsumerSettings {
  account: AccountOptions;
  consumerGroupId: string;
  clientId: string;
  connections: number;
  creditWindow?: number;
  settleDeadlineMs?: number;
  openDeadlineMs?: number;
  dedupeSize?: number;
}

export interface AmqpConsumerEvents {
  /** One message for the flow; `settle` accepts it (idempotent), at the latest by the deadline. */
  message(message: AmqpMessage, settle: () => void): void;
  /** A connection changed state. */
  status(links: readonly AmqpLinkStatus[], counters: Readonly<AmqpCounters>): void;
}

export interface AmqpConsumerDeps {
  now?: () => number;
  random?: () => number;
  backoff?: BackoffPolicy;
  /** rhea, or a stand-in for unit tests. */
  rhea?: { create_container(options?: { id?: string }): Container };
}

function loadRhea(): { create_container(options?: { id?: string }): Container } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('rhea') as { create_container(options?: { id?: string }): Container };
}

function applicationProperty(props: Record<string, unknown> | undefined, name: string): unknown {
  return props ? props[name] : undefined;
}

/** A string or number property as text; anything else (absent, an object) as blank. */
function textOf(value: unknown): string {
  return typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'bigint'
      ? String(value)
      : '';
}

/** An AMQP error (condition, description) or a socket error in a few words, never a login. */
function describeError(error: unknown): string {
  if (typeof error === 'string') return error;
  const e = error as { description?: unknown; message?: unknown; condition?: unknown } | undefined;
  for (const part of [e?.description, e?.message, e?.condition]) if (typeof part === 'string' && part) return part;
  return 'error';
}

function conditionOf(error: unknown): unknown {
  return error !== null && typeof error === 'object' ? (error as { condition?: unknown }).condition : undefined;
}

/**
 * The connection's socket, cut. With an error: rhea hears of a socket's end only through `end` and
 * `error`, and until it does its heartbeat timers (twice the idle time-out) keep the process up.
 */
function destroySocket(connection: Connection): void {
  (connection as unknown as { socket?: { destroyed?: boolean; destroy(err?: Error): void } }).socket?.destroy(
    new Error('closed by the consumer'),
  );
}

function bodyBytes(body: unknown): Buffer {
  // A data section arrives as { typecode: 0x75, content: Buffer }; an AmqpValue as the value.
  const content = (body as { content?: unknown } | undefined)?.content;
  if (Buffer.isBuffer(content)) return content;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** Recently seen messageIds, oldest forgotten first. */
class SeenIds {
  private readonly ids = new Set<string>();
  /**
   * The same ids in a ring, oldest at `next` once full. Not the Set's own first entry: an iterator
   * walks past every entry deleted since the Set last rehashed (thousands here), ~4 µs a message.
   */
  private readonly order: string[] = [];
  private next = 0;
  constructor(private readonly size: number) {}

  /** True when the id was seen already; remembers it otherwise. */
  seen(id: string): boolean {
    if (this.ids.has(id)) return true;
    if (this.size < 1) return false;
    if (this.order.length < this.size) this.order.push(id);
    else {
      const oldest = this.order[this.next];
      if (oldest !== undefined) this.ids.delete(oldest);
      this.order[this.next] = id;
      this.next = (this.next + 1) % this.size;
    }
    this.ids.add(id);
    return false;
  }
}

class Link {
  status: AmqpLinkStatus = { state: 'connecting' };
  connection: Connection | undefined;
  receiver: Receiver | undefined;
  attempt = 0;
  timer: NodeJS.Timeout | undefined;
  authFailed = false;
  /** Messages settled on `receiver` whose credit is not given back yet. */
  owed = 0;
  constructor(readonly index: number) {}
}

export class AmqpConsumer {
  private readonly links: Link[];
  private readonly seen: SeenIds;
  private readonly counters: AmqpCounters = {
    received: 0,
    settled: 0,
    settledLate: 0,
    duplicates: 0,
    reconnects: 0,
    inFlight: 0,
  };
  private container: Container | undefined;
  /** The settle deadline of every message in flight. */
  private readonly deadlines = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly credit: number;
  /** Credit goes back this many at a time. */
  private readonly creditBatch: number;
  private readonly deadlineMs: number;
  private readonly openDeadlineMs: number;

  constructor(
    private readonly settings: AmqpConsumerSettings,
    private readonly events: AmqpConsumerEvents,
    private readonly deps: AmqpConsumerDeps = {},
  ) {
    this.links = Array.from({ length: settings.connections }, (_, i) => new Link(i));
    this.seen = new SeenIds(settings.dedupeSize ?? DEFAULT_DEDUPE_SIZE);
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.backoff = deps.backoff ?? DEFAULT_BACKOFF;
    this.credit = settings.creditWindow ?? DEFAULT_CREDIT;
    // A quarter of the window at a time, as rhea's own flow controller does: a flow frame per settled
    // message had the server send one message per frame and cost both sides a write each (the AMQP
    // benchmark: some 15 % of the node's CPU per message, more on a busy machine). Less than a
    // quarter of the window waits to be given back: the server always has credit to send on.
    this.creditBatch = Math.max(1, Math.floor(this.credit / 4));
    this.deadlineMs = settings.settleDeadlineMs ?? DEFAULT_SETTLE_DEADLINE_MS;
    this.openDeadlineMs = settings.openDeadlineMs ?? DEFAULT_OPEN_DEADLINE_MS;
  }

  start(): void {
    const rhea = this.deps.rhea ?? loadRhea();
    this.container = rhea.create_container({ id: this.settings.clientId });
    for (const link of this.links) this.open(link);
  }

  /** Closes every connection; unsettled messages go back to the group (the platform pushes them again). */
  async stop(): Promise<void> {
    this.stopped = true;
    // What is unsettled goes back to the group when the connection closes: no deadline to keep.
    for (const deadline of this.deadlines) clearTimeout(deadline);
    this.deadlines.clear();
    const closing = this.links.map((link) => {
      clearTimeout(link.timer);
      const connection = link.connection;
      link.connection = undefined;
      link.receiver = undefined;
      link.status = { state: 'closed' };
      if (!connection || connection.is_closed()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(force);
          // Closed both ways: the socket goes too, or rhea's heartbeat timers keep it (and the process) up.
          destroySocket(connection);
          resolve();
        };
        // A server that never answers the close frame does not hold up a redeploy.
        const force = setTimeout(() => {
          destroySocket(connection);
          resolve();
        }, 2000);
        connection.once('connection_close', done);
        connection.once('disconnected', done);
        connection.close();
      });
    });
    await Promise.all(closing);
  }

  linkStatuses(): readonly AmqpLinkStatus[] {
    return this.links.map((l) => ({ ...l.status }));
  }

  stats(): Readonly<AmqpCounters> {
    return { ...this.counters };
  }

  private report(): void {
    if (!this.stopped) this.events.status(this.linkStatuses(), this.stats());
  }

  private open(link: Link): void {
    if (this.stopped || !this.container) return;
    const { account, consumerGroupId, clientId } = this.settings;
    const amqp = account.amqp;
    if (!amqp) return;
    // One clientId per connection, as the platform's own demo numbers them; one timestamp for both.
    const connectionClientId = this.settings.connections > 1 ? `${clientId}-${link.index}` : clientId;
    const login = amqpLogin({
      clientId: connectionClientId,
      accessKeyId: account.accessKeyId,
      accessKeySecret: account.accessKeySecret,
      consumerGroupId,
      iotInstanceId: account.iotInstanceId,
      timestampMs: this.now(),
    });
    link.status = { state: 'connecting' };
    link.authFailed = false;
    this.report();
    const connection = this.container.connect({
      host: amqp.host,
      port: amqp.port,
      transport: 'tls',
      ca: [...account.tls.ca],
      rejectUnauthorized: account.tls.rejectUnauthorized,
      // SNI names a host, never an address (RFC 6066); '' because rhea puts the host in for undefined.
      servername: account.tls.servername || (isIP(amqp.host) ? '' : amqp.host),
      username: login.username,
      password: login.password,
      reconnect: false,
      idle_time_out: IDLE_TIME_OUT_MS,
      container_id: connectionClientId,
    });
    link.connection = connection;
    /** This connection failed, unless it has been replaced (or the consumer stopped) since. */
    const failed = (reason: string | undefined): void => {
      if (link.connection === connection) this.retry(link, reason);
    };
    clearTimeout(link.timer);
    link.timer = setTimeout(() => failed(`no AMQP link within ${this.openDeadlineMs / 1000} s`), this.openDeadlineMs);
    connection.on('connection_open', () => {
      if (link.connection !== connection) return;
      // The platform closes a connection whose receiver link is not attached within 15 s: at once.
      // No address: the group's stream. Credit given by hand, back as messages are settled.
      link.receiver = connection.open_receiver({ credit_window: 0, autoaccept: false });
      link.receiver.on('receiver_open', (ctx: EventContext) => {
        clearTimeout(link.timer);
        link.attempt = 0;
        link.status = { state: 'open' };
        link.owed = 0;
        ctx.receiver?.add_credit(this.credit);
        this.report();
      });
      link.receiver.on('message', (ctx: EventContext) => this.receive(link, ctx));
      link.receiver.on('receiver_error', (ctx: EventContext) => {
        link.status = { ...link.status, error: describeError(ctx.receiver?.error) };
      });
      // A server may end the link and keep the connection: nothing would ever arrive on it again,
      // while the heartbeats kept it looking open. A new connection attaches a new link.
      link.receiver.on('receiver_close', (ctx: EventContext) => failed(describeError(ctx.receiver?.error)));
    });
    connection.on('connection_error', (ctx: EventContext) => {
      if (link.connection !== connection) return;
      // rhea puts the error on the context (a failed SASL login: amqp:unauthorized-access).
      const error: unknown = (ctx as { error?: unknown }).error ?? ctx.connection.error;
      link.authFailed = conditionOf(error) === 'amqp:unauthorized-access';
      link.status = { ...link.status, error: describeError(error) };
    });
    connection.on('disconnected', (ctx: EventContext) =>
      failed((ctx as { error?: { message?: string } }).error?.message),
    );
    connection.on('connection_close', () => failed(link.status.error));
    // rhea re-throws errors nobody listens to; every one is handled above.
    connection.on('error', () => undefined);
  }

  private retry(link: Link, reason: string | undefined): void {
    const old = link.connection;
    link.connection = undefined;
    link.receiver = undefined;
    if (old && !old.is_closed()) old.close();
    if (old) destroySocket(old);
    if (this.stopped) return;
    link.attempt += 1;
    this.counters.reconnects += 1;
    const delay = retryDelay(link.attempt, link.authFailed, this.backoff, this.random);
    link.status = {
      state: link.authFailed ? 'auth-failed' : 'backoff',
      nextRetryMs: delay,
      ...(reason ? { error: reason } : {}),
    };
    this.report();
    clearTimeout(link.timer);
    link.timer = setTimeout(() => this.open(link), delay);
  }

  private receive(link: Link, ctx: EventContext): void {
    const delivery: Delivery | undefined = ctx.delivery;
    const message = ctx.message;
    const receiver = ctx.receiver;
    // Still arriving on a link being closed (the node stopping, or a retry): never handed to the
    // flow, left unsettled, so the platform pushes it again to whoever is attached.
    if (!delivery || !message || this.stopped || link.receiver !== receiver) return;
    const props = message.application_properties as Record<string, unknown> | undefined;
    const messageId = textOf(applicationProperty(props, 'messageId') ?? message.message_id);
    this.counters.received += 1;
    let settled = false;
    const settle = (late = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      this.deadlines.delete(deadline);
      this.counters.inFlight -= 1;
      this.counters.settled += 1;
      if (late) this.counters.settledLate += 1;
      // On a connection that has gone since, the platform pushes it again: the dedupe catches it.
      if (link.receiver === receiver) {
        delivery.accept();
        link.owed += 1;
        if (link.owed >= this.creditBatch) {
          receiver?.add_credit(link.owed);
          link.owed = 0;
        }
      }
    };
    this.counters.inFlight += 1;
    const deadline = setTimeout(() => settle(true), this.deadlineMs);
    this.deadlines.add(deadline);
    if (messageId && this.seen.seen(messageId)) {
      this.counters.duplicates += 1;
      settle();
      return;
    }
    const topic = textOf(applicationProperty(props, 'topic'));
    const generateTime = Number(applicationProperty(props, 'generateTime'));
    this.events.message(
      {
        topic,
        payload: bodyBytes(message.body),
        messageId,
        generateTime: Number.isFinite(generateTime) ? generateTime : undefined,
        ...dataFlowTopic(topic),
        connection: link.index,
      },
      () => settle(),
    );
  }
}
