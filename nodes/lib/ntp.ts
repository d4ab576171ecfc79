// Time sync over `/ext/ntp` (PLATFORM.md §6): the platform stamps when it got the request and when
// it answered; with the device's own send and receive times that gives the platform's clock.
import type { DeviceRef } from './alink';
import type { DeviceConnection, SubscriptionHandle } from './connection';
import { AliyunIotError } from './errors';

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
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
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

interface Waiter {
  promise: Promise<NtpResult>;
  resolve(result: NtpResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A device's NTP exchanges: one response subscription while used, answers matched by send time. */
export class NtpClient {
  private readonly waiting = new Map<string, Waiter>();
  private subscription: SubscriptionHandle | undefined;
  private users = 0;

  constructor(private readonly connection: DeviceConnection) {}

  attach(): () => void {
    if (this.users++ === 0) {
      this.subscription = this.connection.subscribe(ntpTopics.response(this.connection.options), 0, (d) => {
        this.receive(d.topic, d.payload);
      });
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (--this.users > 0) return;
      this.subscription?.close(false);
      this.subscription = undefined;
      for (const [key, waiter] of this.waiting) this.finish(key, waiter, new AliyunIotError('CONNECTION_CLOSED'));
    };
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
    let waiter!: Waiter;
    const promise = new Promise<NtpResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.finish(key, waiter, new AliyunIotError('NTP_TIMEOUT', { seconds: timeoutMs / 1000 }));
      }, timeoutMs);
      waiter = { promise: undefined as unknown as Promise<NtpResult>, resolve, reject, timer };
    });
    waiter.promise = promise;
    this.waiting.set(key, waiter);
    this.connection.publish(
      ntpTopics.request(this.connection.options),
      JSON.stringify({ deviceSendTime: key }),
      0,
      (err) => {
        if (err) this.finish(key, waiter, err);
      },
    );
    return promise;
  }
}

const clients = new WeakMap<DeviceConnection, NtpClient>();

export function ntpClientOf(connection: DeviceConnection): NtpClient {
  let client = clients.get(connection);
  if (!client) {
    client = new NtpClient(connection);
    clients.set(connection, client);
  }
  return client;
}
