// What the cloud asks of a device (PLATFORM.md §6-7, §16): property set, service calls, RRPC in its
// system and `/ext/rrpc/` forms, raw (pass-through) data and custom-topic RRPC, parsed from their
// topics; the replies they need; and the book that says whether one was answered.
import type { DeviceRef } from './alink';
import { IDENTIFIER } from './rules';
import { parseJsonObject, toJson } from './payload';
import { perConnection } from './shared-subscription';

export const COMMAND_KINDS = ['property-set', 'service', 'rrpc', 'raw', 'topic-rrpc'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** The platform waits at most 8 s for an RRPC answer. */
export const RRPC_DEADLINE_MAX_MS = 8000;
const DECIMAL = /^\d{1,20}$/;

/** Everything a reply needs, carried in `msg.aliyun` from the command node to the reply node. */
export interface Command extends DeviceRef {
  kind: CommandKind;
  /** The Alink request id; blank for a raw (non-Alink) RRPC. */
  id: string;
  method: string;
  /** The service identifier; blank for property set and raw RRPC. */
  serviceId: string;
  /** RRPC (every form) and raw: the platform's message id, or a local one for an async raw call. */
  messageId: string;
  /**
   * The `/ext/rrpc/` forms are answered on the very topic they came on (PLATFORM.md §16.2); blank:
   * the kind's own reply topic.
   */
  replyTo: string;
  receivedAt: number;
  /** When the platform stops waiting for the reply (epoch ms). */
  deadline: number;
}

export interface ReceivedCommand {
  command: Command;
  /** Alink params, or the raw RRPC payload as text. */
  params: unknown;
}

const base = ({ productKey, deviceName }: DeviceRef) => `/sys/${productKey}/${deviceName}`;

export const commandTopics = {
  propertySet: (d: DeviceRef) => `${base(d)}/thing/service/property/set`,
  /** One service, or every service (`+`). */
  service: (d: DeviceRef, serviceId = '+') => `${base(d)}/thing/service/${serviceId}`,
  rrpcRequests: (d: DeviceRef) => `${base(d)}/rrpc/request/+`,
  /** Synchronous services for a device logged in with `ext=1`. */
  extServices: (d: DeviceRef, serviceId = '+') => `/ext/rrpc/+${base(d)}/thing/service/${serviceId}`,
  downRaw: (d: DeviceRef) => `${base(d)}/thing/model/down_raw`,
  extDownRaw: (d: DeviceRef) => `/ext/rrpc/+${base(d)}/thing/model/down_raw`,
  upRaw: (d: DeviceRef) => `${base(d)}/thing/model/up_raw`,
  /** A custom topic's RRPC; the topic keeps its leading slash. */
  topicRrpc: (topic: string) => `/ext/rrpc/+${topic}`,
};

/**
 * The custom topic a command node answers RRPC on: `/${pk}/${dn}/user/get` as given, or `user/get`
 * under the device; undefined when it is not one of the device's own topics.
 */
export function customRrpcTopic(d: DeviceRef, input: string): string | undefined {
  const text = input.trim();
  if (!text) return undefined;
  const own = `/${d.productKey}/${d.deviceName}/`;
  const topic = text.startsWith('/') ? text : `${own}${text}`;
  if (!topic.startsWith(own) || topic.length === own.length || /[+#]/.test(topic) || topic.includes('//'))
    return undefined;
  return topic;
}

const EXT_RRPC = /^\/ext\/rrpc\/(\d+)(\/.+)$/;

function alinkRequest(text: string): { id: string; method: string; params: unknown } | undefined {
  const v = parseJsonObject(text);
  if (!v) return undefined;
  const id = typeof v.id === 'string' || typeof v.id === 'number' ? String(v.id) : '';
  if (!DECIMAL.test(id) || typeof v.method !== 'string') return undefined;
  return { id, method: v.method, params: v.params ?? {} };
}

/** Async raw calls carry no id of their own: a local one keeps them apart in `msg.aliyun`. */
let localRawId = 0;

/**
 * The `/ext/rrpc/${messageId}/...` forms (PLATFORM.md §16.2): a synchronous service, a synchronous
 * raw call, or a custom topic; each answered on its own topic within 8 s.
 */
function parseExtRrpc(
  device: DeviceRef,
  topic: string,
  messageId: string,
  inner: string,
  payload: Buffer,
  times: ParseTimes,
): ReceivedCommand | 'malformed' | undefined {
  const common = {
    productKey: device.productKey,
    deviceName: device.deviceName,
    receivedAt: times.now,
    messageId,
    replyTo: topic,
    deadline: times.now + Math.min(times.rrpcTimeoutMs, RRPC_DEADLINE_MAX_MS),
  };
  const sys = `${base(device)}/`;
  if (inner === `${sys}thing/model/down_raw`)
    return { command: { ...common, kind: 'raw', id: '', method: '', serviceId: '' }, params: Buffer.from(payload) };
  const service = inner.startsWith(`${sys}thing/service/`) ? inner.slice(`${sys}thing/service/`.length) : undefined;
  if (service !== undefined) {
    if (!IDENTIFIER.test(service)) return undefined;
    const request = alinkRequest(payload.toString('utf8'));
    if (!request) return 'malformed';
    const command: Command = { ...common, kind: 'rrpc', id: request.id, method: request.method, serviceId: service };
    return { command, params: request.params };
  }
  if (!inner.startsWith(`/${device.productKey}/${device.deviceName}/`)) return undefined;
  const command: Command = { ...common, kind: 'topic-rrpc', id: '', method: '', serviceId: '' };
  return { command, params: payload.toString('utf8') };
}

export interface ParseTimes {
  now: number;
  /** How long an async command (property set, service) may wait for its reply. */
  asyncTimeoutMs: number;
  rrpcTimeoutMs: number;
}

/**
 * A command from a message on one of `commandTopics`; `undefined` when the message is not a
 * command (the device's own `_reply` echoed by a wildcard), `'malformed'` when it should be one.
 */
export function parseCommand(
  device: DeviceRef,
  topic: string,
  payload: Buffer,
  times: ParseTimes,
): ReceivedCommand | 'malformed' | undefined {
  const ext = EXT_RRPC.exec(topic);
  if (ext) return parseExtRrpc(device, topic, ext[1] ?? '', ext[2] ?? '', payload, times);
  const prefix = `${base(device)}/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const text = payload.toString('utf8');
  const common = { productKey: device.productKey, deviceName: device.deviceName, receivedAt: times.now, replyTo: '' };
  if (rest === 'thing/model/down_raw') {
    // Async raw data: the device's answer, if any, is its own business (up_raw or down_raw_reply).
    const messageId = String(++localRawId);
    const command: Command = { ...common, kind: 'raw', id: '', method: '', serviceId: '', messageId, deadline: 0 };
    return { command, params: Buffer.from(payload) };
  }
  const rrpc = /^rrpc\/request\/(\d+)$/.exec(rest);
  if (rrpc) {
    const deadline = times.now + Math.min(times.rrpcTimeoutMs, RRPC_DEADLINE_MAX_MS);
    const request = alinkRequest(text);
    const serviceId = request ? (/^thing\.service\.(\w+)$/.exec(request.method)?.[1] ?? '') : '';
    const command: Command = {
      ...common,
      kind: 'rrpc',
      id: request?.id ?? '',
      method: request?.method ?? '',
      serviceId,
      messageId: rrpc[1] ?? '',
      deadline,
    };
    return { command, params: request ? request.params : text };
  }
  const service = /^thing\/service\/(property\/set|[A-Za-z0-9_]+)$/.exec(rest)?.[1];
  if (!service || service.endsWith('_reply')) return undefined;
  const request = alinkRequest(text);
  if (!request) return 'malformed';
  const kind: CommandKind = service === 'property/set' ? 'property-set' : 'service';
  const command: Command = {
    ...common,
    kind,
    id: request.id,
    method: request.method,
    serviceId: kind === 'service' ? service : '',
    messageId: '',
    deadline: times.now + times.asyncTimeoutMs,
  };
  return { command, params: request.params };
}

/** `msg.aliyun` back as a command, or undefined when it is not one this package made. */
export function commandFrom(value: unknown): Command | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const text = (key: string) => (typeof v[key] === 'string' ? v[key] : undefined);
  const kind = text('kind') as CommandKind | undefined;
  const [productKey, deviceName, id, method, serviceId, messageId, replyTo = ''] = [
    'productKey',
    'deviceName',
    'id',
    'method',
    'serviceId',
    'messageId',
    'replyTo',
  ].map(text);
  if (!kind || !COMMAND_KINDS.includes(kind) || !productKey || !deviceName) return undefined;
  if (id === undefined || method === undefined || serviceId === undefined || messageId === undefined) return undefined;
  const byMessage = kind === 'rrpc' || kind === 'raw' || kind === 'topic-rrpc';
  if (byMessage ? !DECIMAL.test(messageId) : !DECIMAL.test(id)) return undefined;
  if (kind === 'service' && !IDENTIFIER.test(serviceId)) return undefined;
  // An answer on the request's own topic: only ever an /ext/rrpc/ topic of this message.
  if (replyTo && !replyTo.startsWith(`/ext/rrpc/${messageId}/`)) return undefined;
  if (kind === 'topic-rrpc' && !replyTo) return undefined;
  const receivedAt = typeof v.receivedAt === 'number' ? v.receivedAt : 0;
  const deadline = typeof v.deadline === 'number' ? v.deadline : 0;
  return { kind, productKey, deviceName, id, method, serviceId, messageId, replyTo, receivedAt, deadline };
}

/**
 * Where and how a command's reply goes: `_reply` at QoS 1; RRPC at QoS 0, on its own topic in the
 * `/ext/rrpc/` forms; async raw data on `up_raw`, or `down_raw_reply` when `rawReply` says so.
 */
export function replyTopic(
  command: Command,
  rawReply: 'up_raw' | 'down_raw_reply' = 'up_raw',
): { topic: string; qos: 0 | 1 } {
  if (command.replyTo) return { topic: command.replyTo, qos: 0 };
  if (command.kind === 'raw') return { topic: `${base(command)}/thing/model/${rawReply}`, qos: 0 };
  if (command.kind === 'rrpc') return { topic: `${base(command)}/rrpc/response/${command.messageId}`, qos: 0 };
  const service = command.kind === 'property-set' ? 'property/set' : command.serviceId;
  return { topic: `${base(command)}/thing/service/${service}_reply`, qos: 1 };
}

/**
 * The Alink reply body, undefined when `data` has no JSON form; a raw RRPC answer is the caller's
 * own payload instead.
 */
export function replyBody(command: Command, code: number, data: unknown, message?: string): string | undefined {
  const body: Record<string, unknown> = { id: command.id, code, data: data ?? {} };
  if (message) body.message = message;
  return toJson(body);
}

export type AnswerResult = 'ok' | 'late' | 'duplicate' | 'unknown';

interface Entry {
  deadline: number;
  answered: boolean;
  timer: NodeJS.Timeout;
}

/** After its deadline a command is remembered this much longer, to catch late and second replies. */
const REMEMBER_MS = 60_000;

export function commandKey(command: Command): string {
  if (command.kind === 'rrpc' || command.kind === 'topic-rrpc') return `rrpc:${command.messageId}`;
  return command.kind === 'raw' ? `raw:${command.messageId}` : `${command.kind}:${command.id}`;
}

/** Commands answered with the flow's bytes, not an Alink reply. */
export function answeredRaw(command: Command): boolean {
  return command.kind === 'raw' || command.kind === 'topic-rrpc' || (command.kind === 'rrpc' && !command.id);
}

/** Which commands of a device were answered; one per device, shared by its command and reply nodes. */
export class CommandBook {
  private readonly entries = new Map<string, Entry>();

  /** Records a command; `unanswered` runs once at its deadline if no reply came. Idempotent per command. */
  open(command: Command, unanswered: () => void): void {
    const key = commandKey(command);
    if (this.entries.has(key)) return;
    const wait = Math.max(0, command.deadline - Date.now());
    const timer = setTimeout(() => {
      const entry = this.entries.get(key);
      if (entry && !entry.answered) unanswered();
      const forget = setTimeout(() => this.entries.delete(key), REMEMBER_MS);
      forget.unref();
      if (entry) entry.timer = forget;
    }, wait);
    timer.unref();
    this.entries.set(key, { deadline: command.deadline, answered: false, timer });
  }

  /** Marks the command answered: whether this reply is the first, in time, or unknown here. */
  answer(command: Command, now = Date.now()): AnswerResult {
    const entry = this.entries.get(commandKey(command));
    if (!entry) return 'unknown';
    if (entry.answered) return 'duplicate';
    entry.answered = true;
    return now > entry.deadline ? 'late' : 'ok';
  }

  clear(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** One book per device connection, shared by its command and reply nodes. */
export const commandBookOf = perConnection(() => new CommandBook());
