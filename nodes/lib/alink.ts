// The platform's Alink JSON (PLATFORM.md §6-7): message ids, the thing-model topics, request
// builders, reply parsing and the table that matches replies to requests by id.
import { AliyunIotError, type Problem } from './errors';
import { parseJsonObject } from './payload';
import { IDENTIFIER } from './rules';

export const ALINK_VERSION = '1.0';
/** Ids are decimal strings in 0..4294967295 (the official Node SDK's `1|exp-topic|…` ids are not). */
export const MAX_ALINK_ID = 4_294_967_295;
export const MAX_PROPERTIES = 200;

export interface DeviceRef {
  productKey: string;
  deviceName: string;
}

const sys = ({ productKey, deviceName }: DeviceRef) => `/sys/${productKey}/${deviceName}/thing`;

export const thingTopics = {
  propertyPost: (d: DeviceRef) => `${sys(d)}/event/property/post`,
  eventPost: (d: DeviceRef, eventId: string) => `${sys(d)}/event/${eventId}/post`,
  /** Every post_reply of the device: property and events. */
  postReplies: (d: DeviceRef) => `${sys(d)}/event/+/post_reply`,
};

/** Ids unique per device: a counter from a random start, wrapping inside the allowed range. */
export class AlinkIds {
  private last: number;

  constructor(random: () => number = Math.random) {
    this.last = Math.floor(random() * MAX_ALINK_ID);
  }

  next(): string {
    this.last = this.last >= MAX_ALINK_ID ? 0 : this.last + 1;
    return String(this.last);
  }
}

export interface AlinkRequest {
  id: string;
  version: string;
  sys: { ack: 0 | 1 };
  params: unknown;
  method: string;
}

export function request(id: string, method: string, params: unknown, ack: boolean): AlinkRequest {
  return { id, version: ALINK_VERSION, sys: { ack: ack ? 1 : 0 }, params, method };
}

export interface AlinkReply {
  id: string;
  code: number;
  message: string;
  data: unknown;
}

/** A reply the platform sent, or undefined when the payload is not one (reported by the caller). */
export function parseReply(payload: Buffer | string): AlinkReply | undefined {
  const v = parseJsonObject(payload);
  if (!v) return undefined;
  const id = typeof v.id === 'string' || typeof v.id === 'number' ? String(v.id) : undefined;
  const code = typeof v.code === 'number' ? v.code : Number(v.code);
  if (id === undefined || !Number.isInteger(code)) return undefined;
  return { id, code, message: typeof v.message === 'string' ? v.message : '', data: v.data ?? {} };
}

/** Why property params cannot be posted, or undefined when they can. */
export function checkProperties(params: unknown): Problem | undefined {
  if (params === null || typeof params !== 'object' || Array.isArray(params))
    return { code: 'PROPERTIES_INVALID', params: {} };
  const count = Object.keys(params).length;
  if (count === 0) return { code: 'PROPERTIES_INVALID', params: {} };
  if (count > MAX_PROPERTIES) return { code: 'PROPERTIES_TOO_MANY', params: { count, max: MAX_PROPERTIES } };
  return undefined;
}

/** Why an event cannot be posted, or undefined when it can. */
export function checkEvent(eventId: string, value: unknown, time: unknown): Problem | undefined {
  if (!eventId) return { code: 'EVENT_MISSING', params: {} };
  if (!IDENTIFIER.test(eventId) || eventId === 'property') return { code: 'EVENT_INVALID', params: {} };
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { code: 'EVENT_VALUE_INVALID', params: {} };
  if (time !== undefined && !(typeof time === 'number' && Number.isInteger(time) && time >= 0))
    return { code: 'TIME_INVALID', params: {} };
  return undefined;
}

interface Waiting<T> {
  resolve(reply: T): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * Requests waiting for their reply, matched by id (an Alink id, a shadow clientToken), each with
 * its own deadline.
 */
export class PendingReplies<T = AlinkReply> {
  private readonly waiting = new Map<string, Waiting<T>>();

  /** Registers the id before the request goes out, so that no reply can arrive unexpected. */
  expect(id: string): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
    });
  }

  /** Starts the deadline once the request is on its way (not while it waits in the offline queue). */
  arm(id: string, timeoutMs: number): void {
    const waiting = this.waiting.get(id);
    if (!waiting || waiting.timer) return;
    waiting.timer = setTimeout(() => {
      this.fail(id, new AliyunIotError('REPLY_TIMEOUT', { id, seconds: timeoutMs / 1000 }));
    }, timeoutMs);
  }

  /** An Alink reply to the request of its id; false when nothing waits for it. */
  settle(this: PendingReplies, reply: AlinkReply): boolean {
    return this.resolve(reply.id, reply);
  }

  /** False when nothing waits for this id (late, duplicate or someone else's reply). */
  resolve(id: string, reply: T): boolean {
    const waiting = this.waiting.get(id);
    if (!waiting) return false;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    waiting.resolve(reply);
    return true;
  }

  /** Fails one request (its publish failed) without waiting for the deadline. */
  fail(id: string, err: Error): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    waiting.reject(err);
  }

  failAll(err: Error): void {
    for (const id of [...this.waiting.keys()]) this.fail(id, err);
  }

  get size(): number {
    return this.waiting.size;
  }

  /** The id waiting longest (for a reply that does not say whose it is). */
  oldest(): string | undefined {
    return this.waiting.keys().next().value;
  }
}

/** A reply's code as the outcome of the request: 200 is success, anything else an error with it. */
export function replyError(reply: AlinkReply): AliyunIotError | undefined {
  if (reply.code === 200) return undefined;
  return new AliyunIotError('REPLY_ERROR', { code: reply.code, message: reply.message }, reply.code);
}
