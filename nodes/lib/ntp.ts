// Time sync over `/ext/ntp` (PLATFORM.md §6): the platform stamps when it got the request and when
// it answered; with the device's own send and receive times that gives the platform's clock.
import type { DeviceRef } from './alink';
import type { DeviceChannel } from './connection';
import { AliyunIotError } from './errors';
import { parseJsonObject } from './payload';
import { perConnection, SharedSubscription } from './shared-subscription';

export const ntpTopics = {
  request: ({ productKey, deviceName }: DeviceRef) => `/ext/ntp/${productKey}/${deviceName}/request`,
  response: ({ productKey, deviceName }: DeviceRef) => `/ext/ntp/${productKey}/${deviceName}/response`,
};

export interface NtpStamps {
  deviceSendTime: number;
  serverRecvTime: number;
  serverSendTime: number;
}

export interface NtpResult {
  /** The platform's time (epoch ms) at the moment the response arrived. */
  time: number;
  /** Add to the local clock to get the platform's. */
  offset: number;
  /** Round trip without the platform's own processing time. */
  rtt: number;
}

export function parseNtpResponse(payload: Buffer | string): NtpStamps | undefined {
  const v = parseJsonObject(payload);
  if (!v) return undefined;
  const [deviceSendTime, serverRecvTime, serverSendTime] = ['deviceSendTime', 'serverRecvTime', 'serverSendTime'].map(
    (key) => (typeof v[key] === 'string' || typeof v[key] === 'number' ? Number(v[key]) : NaN),
  ) as [number, number, number];
  if (![deviceSendTime, serverRecvTime, serverSendTime].every(Number.isFinite)) return undefined;
  return { deviceSendTime, serverRecvTime, serverSendTime };
}

/** PLATFORM.md's formula: time = (serverRecv + serverSend + deviceRecv - deviceSend) / 2. */
export function ntpResult(stamps: NtpStamps, deviceRecvTime: number): NtpResult {
  const { deviceSendTime, serverRecvTime, serverSendTime } = stamps;
  const time = (serverRecvTime + serverSendTime + deviceRecvTime - deviceSendTime) / 2;
  return {
    time: Math.round(time),
    offset: Math.round(time - deviceRecvTime),
    rtt: deviceRecvTime - deviceSendTime - (serverSendTime - serverRecvTime),
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

/** A promise with its resolve and reject at hand. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Waiter extends Deferred<NtpResult> {
  timer: NodeJS.Timeout;
}

/** A device's NTP exchanges: one response subscription while used, answers matched by send time. */
export class NtpClient {
  private readonly waiting = new Map<string, Waiter>();
  private readonly responses: SharedSubscription;

  constructor(private readonly connection: DeviceChannel) {
    this.responses = new SharedSubscription(
      connection,
      ntpTopics.response(connection.options),
      ({ topic, payload }) => this.receive(topic, payload),
      () => {
        for (const [key, waiter] of this.waiting) this.finish(key, waiter, new AliyunIotError('CONNECTION_CLOSED'));
      },
    );
  }

  /** While any node uses it the response topic stays subscribed. Returns the release. */
  attach(): () => void {
    return this.responses.attach();
  }

  private receive(topic: string, payload: Buffer): void {
    const received = Date.now();
    const stamps = parseNtpResponse(payload);
    if (!stamps) return void this.connection.emit('warning', 'NTP_MALFORMED', { topic });
    const key = String(stamps.deviceSendTime);
    const waiter = this.waiting.get(key);
    if (waiter) this.finish(key, waiter, ntpResult(stamps, received));
  }

  private finish(key: string, waiter: Waiter, outcome: NtpResult | Error): void {
    this.waiting.delete(key);
    clearTimeout(waiter.timer);
    if (outcome instanceof Error) waiter.reject(outcome);
    else waiter.resolve(outcome);
  }

  /** One exchange; requests sent in the same millisecond share it. */
  request(timeoutMs: number): Promise<NtpResult> {
    const sent = Date.now();
    const key = String(sent);
    const existing = this.waiting.get(key);
    if (existing) return existing.promise;
    const waiter: Waiter = {
      ...deferred<NtpResult>(),
      timer: setTimeout(() => {
        this.finish(key, waiter, new AliyunIotError('NTP_TIMEOUT', { seconds: timeoutMs / 1000 }));
      }, timeoutMs),
    };
    this.waiting.set(key, waiter);
    this.connection.publish(
      ntpTopics.request(this.connection.options),
      JSON.stringify({ deviceSendTime: key }),
      0,
      (err) => {
        if (err) this.finish(key, waiter, err);
      },
    );
    return waiter.promise;
  }
}

export const ntpClientOf = perConnection((connection) => new NtpClient(connection));
