// One mqtt.js client, from CONNECT to its end, with only this package's listeners on it: mqtt.js
// listens to its own events too, and its 'close' handler is what stops its keepalive timer, so a
// session never calls removeAllListeners(). The package owns reconnects: mqtt.js never retries.
import type { connect as mqttConnect, IClientOptions, MqttClient } from 'mqtt';
import type { ResolvedEndpoint } from '../endpoint';
import type { MqttLogin } from '../login';
import type { DeviceOptions } from '../options';

export type Connect = typeof mqttConnect;

export interface SessionHandlers {
  connect?: () => void;
  message?: (topic: string, payload: Buffer, packet: { qos: number; retain: boolean }) => void;
  error?: (err: Error & { code?: number | string }) => void;
  close?: () => void;
}

/** Options every session of the package shares: MQTT 3.1.1, no retry, no resubscribe, no QoS 0 queue. */
function sessionOptions(options: IClientOptions): IClientOptions {
  return {
    protocolVersion: 4,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    ...options,
  };
}

/** The options of a device's login: its credentials, keepalive, session kind and TLS settings. */
export function loginOptions(
  login: MqttLogin,
  options: DeviceOptions,
  endpoint: ResolvedEndpoint,
  connectTimeoutMs: number,
): IClientOptions {
  const clientOptions: IClientOptions = {
    clientId: login.clientId,
    username: login.username,
    password: login.password,
    keepalive: options.keepalive,
    clean: options.cleanSession,
    connectTimeout: connectTimeoutMs,
  };
  if (endpoint.secure) {
    clientOptions.ca = [...(endpoint.ca ?? [])];
    clientOptions.rejectUnauthorized = options.rejectUnauthorized;
    if (options.servername) clientOptions.servername = options.servername;
  }
  return clientOptions;
}

export class MqttSession {
  readonly client: MqttClient;
  /**
   * mqtt.js has failed this client's requests as closed: its 'close' event is on the way and
   * nothing more may be sent on it.
   */
  over = false;
  private readonly detachers: (() => void)[] = [];

  constructor(connect: Connect, url: string, options: IClientOptions, handlers: SessionHandlers) {
    this.client = connect(url, sessionOptions(options));
    // MQTT packets are small and answered one by one: Nagle's delay would add tens of ms to each.
    (this.client.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined)?.setNoDelay?.(true);
    for (const [event, handler] of Object.entries(handlers)) {
      const listener = handler as (...args: unknown[]) => void;
      this.client.on(event as 'close', listener);
      this.detachers.push(() => this.client.off(event as 'close', listener));
    }
  }

  /** True while requests can go out on this session. */
  get writable(): boolean {
    return this.client.connected && !this.over && !this.client.disconnecting;
  }

  /** Takes this package's listeners off; a late socket error must not be an uncaught 'error'. */
  detach(): void {
    for (const detach of this.detachers.splice(0)) detach();
    this.client.on('error', () => undefined);
  }

  /** Forgets the session at once: no DISCONNECT, the socket destroyed. */
  drop(): void {
    this.detach();
    this.client.end(true);
  }

  /**
   * DISCONNECT, bounded: mqtt.js's graceful end waits for every outstanding acknowledgement and
   * ignores a later forced end, so on a stalled link the socket is destroyed after `timeoutMs`; its
   * own 'close' handler then cleans up.
   */
  async end(timeoutMs: number): Promise<void> {
    this.detach();
    const client = this.client;
    if (!client.connected) {
      client.end(true);
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream.destroy();
        resolve();
      }, timeoutMs);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * True when mqtt.js failed a callback because the client's session is over rather than because the
 * request itself was wrong. On a forced teardown (keepalive timeout, stream error, `end(true)`)
 * mqtt.js calls every outstanding callback with "Connection closed" *before* it emits 'close',
 * while `connected` still reads true; a graceful end refuses new requests with "client disconnecting".
 */
export function sessionEnded(client: Pick<MqttClient, 'connected' | 'disconnecting'>, err: Error): boolean {
  return (
    err.message === 'Connection closed' ||
    err.message === 'client disconnecting' ||
    client.disconnecting ||
    !client.connected
  );
}
