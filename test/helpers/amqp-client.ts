// A server-side subscription client written the way the platform's Node sample does it (rhea over
// TLS, SASL PLAIN, `open_receiver()` with no address), from PLATFORM.md §17.1 and not from the
// package's own client: the tests use it to judge the emulator's AMQP server.
import { createHmac } from 'node:crypto';
import rhea, { type Connection, type Delivery, type EventContext, type Message, type Receiver } from 'rhea';
import type { Emulator } from '../../emulator/index';
import { eventually } from './emulator';

export const ACCOUNT = { accessKeyId: 'LTAI5tTestAccessKey', accessKeySecret: 'amqp-test-secret-5c1e' };

export interface LoginParts {
  clientId: string;
  consumerGroupId: string;
  accessKeyId?: string;
  accessKeySecret?: string;
  /** `iotInstanceId=` value; null leaves the parameter out. The Node sample sends `""`. */
  iotInstanceId?: string | null;
  signMethod?: 'hmacsha1' | 'hmacsha256' | 'hmacmd5';
}

const HASH = { hmacsha1: 'sha1', hmacsha256: 'sha256', hmacmd5: 'md5' } as const;

/** userName and password of PLATFORM.md §17.1, one timestamp for both. */
export function amqpCredentials(parts: LoginParts): { username: string; password: string } {
  const { accessKeyId = ACCOUNT.accessKeyId, accessKeySecret = ACCOUNT.accessKeySecret } = parts;
  const signMethod = parts.signMethod ?? 'hmacsha1';
  const timestamp = Date.now();
  const instance = parts.iotInstanceId === null ? [] : [`iotInstanceId=${parts.iotInstanceId ?? '""'}`];
  const params = [
    'authMode=aksign',
    `signMethod=${signMethod}`,
    `timestamp=${timestamp}`,
    `authId=${accessKeyId}`,
    ...instance,
    `consumerGroupId=${parts.consumerGroupId}`,
  ];
  const password = createHmac(HASH[signMethod], accessKeySecret)
    .update(`authId=${accessKeyId}&timestamp=${timestamp}`)
    .digest('base64');
  return { username: `${parts.clientId}|${params.join(',')}|`, password };
}

export interface Received {
  message: Message;
  delivery: Delivery;
  topic: string;
  messageId: string;
  body: Buffer;
}

export interface Subscriber {
  connection: Connection;
  receiver: Receiver | undefined;
  received: Received[];
  /** `open` once the server's open arrived, or the error the connection ended with. */
  state: 'connecting' | 'open' | 'closed';
  error: { condition?: string; description?: string } | undefined;
  /** Errors on the links (a refused attach). */
  linkErrors: { condition?: string; description?: string }[];
  /** Resolves when the connection opened, rejects with the error it ended with before. */
  opened: Promise<void>;
  /** Resolves when the connection ended (any way). */
  closed: Promise<void>;
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** Attach the receiver link at once (the sample's way); false: none. */
  attach?: boolean;
  autoaccept?: boolean;
  /** rhea's credit window; 0: credit only from `receiver.add_credit`. */
  creditWindow?: number;
  /** The open's idle-time-out; undefined leaves it out. */
  idleTimeOut?: number | undefined;
}

export function subscribe(emu: Emulator, parts: LoginParts, options: SubscribeOptions = {}): Subscriber {
  const container = rhea.create_container();
  const idle = 'idleTimeOut' in options ? options.idleTimeOut : 60_000;
  const connection = container.connect({
    host: emu.host,
    port: emu.ports.amqp,
    transport: 'tls',
    ca: emu.ca,
    reconnect: false,
    ...(idle !== undefined && { idle_time_out: idle }),
    ...amqpCredentials(parts),
  });
  let markOpen: () => void = () => undefined;
  let markFailed: (err: Error) => void = () => undefined;
  let markClosed: () => void = () => undefined;
  const sub: Subscriber = {
    connection,
    receiver: undefined,
    received: [],
    state: 'connecting',
    error: undefined,
    linkErrors: [],
    opened: new Promise<void>((resolve, reject) => {
      markOpen = resolve;
      markFailed = reject;
    }),
    closed: new Promise<void>((resolve) => (markClosed = resolve)),
    async close() {
      if (sub.state !== 'closed') connection.close();
      await sub.closed;
    },
  };
  sub.opened.catch(() => undefined);
  const ended = (ctx: EventContext) => {
    const error = (ctx.connection.error ?? ctx.error) as { condition?: string; description?: string } | undefined;
    sub.error ??= error && { condition: error.condition, description: error.description };
    if (sub.state === 'connecting') markFailed(new Error(`not opened: ${JSON.stringify(sub.error)}`));
    sub.state = 'closed';
    markClosed();
  };
  container.on('connection_open', () => {
    sub.state = 'open';
    markOpen();
  });
  container.on('connection_error', ended);
  container.on('connection_close', ended);
  container.on('disconnected', ended);
  container.on('error', () => undefined);
  const linkError = (ctx: EventContext) => {
    const error = (ctx.receiver ?? ctx.sender)?.error as { condition?: string; description?: string } | undefined;
    if (error) sub.linkErrors.push({ condition: error.condition, description: error.description });
  };
  container.on('receiver_error', linkError);
  container.on('sender_error', linkError);
  container.on('message', (ctx: EventContext) => {
    const message = ctx.message as Message;
    const props = (message.application_properties ?? {}) as { topic?: string; messageId?: string };
    sub.received.push({
      message,
      delivery: ctx.delivery as Delivery,
      topic: String(props.topic),
      messageId: String(props.messageId),
      body: Buffer.from((message.body as { content: Uint8Array }).content),
    });
  });
  if (options.attach !== false) {
    sub.receiver = connection.open_receiver({
      autoaccept: options.autoaccept ?? true,
      credit_window: options.creditWindow ?? 100,
    });
  }
  return sub;
}

/** Waits until the subscriber got a message on `topic` (and `match` holds), and returns it. */
export async function messageOn(
  sub: Subscriber,
  topic: string,
  match: (body: Record<string, unknown>) => boolean = () => true,
  ms = 5000,
): Promise<Record<string, unknown>> {
  const find = () => sub.received.find((r) => r.topic === topic && match(parseBody(r)));
  await eventually(() => find() !== undefined, ms, `a message on ${topic}`);
  return parseBody(find() as Received);
}

export function parseBody(r: Received): Record<string, unknown> {
  try {
    return JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
