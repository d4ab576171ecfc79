// A stand-in for an mqtt.js client, for unit tests of the connection: it records what was asked of
// it and lets the test play the broker's and mqtt.js's part, in the order mqtt.js really does
// things (a forced teardown fails outstanding callbacks with "Connection closed" before 'close').
import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';

type Callback = (err?: Error, ...rest: unknown[]) => void;

export interface Sent {
  topic: string;
  payload: string;
  qos: number;
  cb?: Callback;
}

export class FakeClient extends EventEmitter {
  connected = false;
  disconnecting = false;
  ended: 'forced' | 'graceful' | undefined;
  closed = false;
  readonly published: Sent[] = [];
  readonly subscribed: Record<string, { qos: number }>[] = [];
  readonly unsubscribed: string[][] = [];
  /** Callbacks mqtt.js would keep in its outgoing store: QoS 1 publishes, (un)subscribes. */
  private outgoing: Callback[] = [];
  readonly stream = {
    setNoDelay: () => undefined,
    destroy: () => this.close(),
  };

  constructor(readonly options: IClientOptions) {
    super();
  }

  publish(topic: string, payload: Buffer | string, opts: { qos: number }, cb?: Callback): this {
    const sent: Sent = { topic, payload: payload.toString(), qos: opts.qos, cb };
    this.published.push(sent);
    if (cb) this.outgoing.push(cb);
    return this;
  }

  subscribe(filters: Record<string, { qos: number }>, cb?: Callback): this {
    this.subscribed.push(filters);
    if (cb) this.outgoing.push(cb);
    return this;
  }

  unsubscribe(filters: string[], cb?: Callback): this {
    this.unsubscribed.push(filters);
    if (cb) this.outgoing.push(cb);
    return this;
  }

  end(force?: boolean, _opts?: object, cb?: () => void): this {
    this.ended = force ? 'forced' : 'graceful';
    this.disconnecting = true;
    if (force) this.teardown();
    else this.close();
    cb?.();
    return this;
  }

  // The broker's and mqtt.js's side.

  /** CONNACK 0. */
  accept(): void {
    this.connected = true;
    this.emit('connect');
  }

  /** CONNACK with a refusal: mqtt.js reports the code as an error, then the close. */
  refuse(code: number): void {
    this.emit('error', Object.assign(new Error(`Connection refused: ${code}`), { code }));
    this.close();
  }

  /** PUBACK for a QoS 1 publish. */
  ack(sent: Sent): void {
    this.outgoing = this.outgoing.filter((cb) => cb !== sent.cb);
    sent.cb?.();
  }

  /**
   * A forced teardown as mqtt.js does it (keepalive timeout, `end(true)`): every outstanding
   * callback fails with "Connection closed" while `connected` still reads true, then 'close'.
   */
  teardown(): void {
    for (const cb of this.outgoing.splice(0)) cb(new Error('Connection closed'));
    this.close();
  }

  /** The link is gone without a flush (a socket error). Emits 'close' once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    this.emit('close');
  }
}

/** A `connect` function for the connection's tuning that hands out fake clients and keeps them. */
export function fakeConnect(): { connect: typeof import('mqtt').connect; clients: FakeClient[] } {
  const clients: FakeClient[] = [];
  const connect = ((options: IClientOptions) => {
    const client = new FakeClient(options);
    clients.push(client);
    return client as unknown as MqttClient;
  }) as unknown as typeof import('mqtt').connect;
  return { connect, clients };
}
