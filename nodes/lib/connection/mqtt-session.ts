// One mqtt.js client, from CONNECT to its end, with only this package's listeners on it: mqtt.js
// listens to its own events too, and its 'close' handler is what stops its keepalive timer, so a
// session never calls removeAllListeners(). The package owns reconnects: mqtt.js never retries.
import type { connect as mqttConnect, IClientOptions, MqttClient } from 'mqtt';
import { formatHost, socketHost, WEBSOCKET_PATH, type BrokerAddress, type ResolvedEndpoint } from '../endpoint';
import type { MqttLogin } from '../login';
import type { DeviceOptions } from '../options';

export type Connect = typeof mqttConnect;

export interface SessionHandlers {
  connect?: () => void;
  message?: (topic: string, payload: Buffer, packet: { qos: number; retain: boolean }) => void;
  error?: (err: Error & { code?: number | string }) => void;
  close?: () => void;
}

/** A login's own fields; what every session shares is fixed in `clientOptions`. */
export interface SessionLogin {
  clientId: string;
  username: string;
  password: string;
  keepalive: number;
  clean: boolean;
  connectTimeout: number;
  /** Secure transports only. */
  ca?: string[];
  rejectUnauthorized?: boolean;
  servername?: string;
}

// mqtt.js logs through `debug`, which costs a function object per client and a call per step of
// every publish. Its output is kept for whoever asks for it with DEBUG=mqttjs*.
const mqttLog = process.env.DEBUG?.includes('mqttjs') ? undefined : (): void => undefined;

/**
 * MQTT 3.1.1, no retry, no resubscribe, no QoS 0 queue, and the login's fields.
 *
 * mqtt.js keeps this object for the client's life and writes its defaults into it with computed
 * keys; given a URL string it also deletes `path`. Either turns the object into a dictionary of
 * about 1.6 KB (16 MB at 10,000 devices). An object that holds every key mqtt.js writes from the
 * start keeps its compact shape, so the broker is passed as fields and mqtt.js's own keys are
 * listed, undefined where mqtt.js picks the value. test/connection/mqtt-session.test.ts names
 * any key a newer mqtt.js adds.
 */
export function clientOptions(broker: BrokerAddress, login: SessionLogin): IClientOptions {
  const { protocol } = broker;
  const host = socketHost(broker.host);
  const webSocket = protocol === 'ws' || protocol === 'wss';
  const options: IClientOptions = {
    protocol,
    host,
    port: broker.port,
    clientId: login.clientId,
    username: login.username,
    password: login.password,
    keepalive: login.keepalive,
    clean: login.clean,
    connectTimeout: login.connectTimeout,
    ca: login.ca,
    rejectUnauthorized: login.rejectUnauthorized,
    servername: login.servername,
    protocolVersion: 4,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    log: mqttLog,
    // mqtt.js builds a WebSocket's URL from it: an IPv6 address needs its brackets there.
    hostname: webSocket && host.includes(':') ? formatHost(host) : undefined,
    // Written by mqtt.js.
    unixSocket: undefined,
    socksProxy: undefined,
    defaultProtocol: undefined,
    customHandleAcks: undefined,
    reschedulePings: undefined,
    protocolId: undefined,
    subscribeBatchSize: undefined,
    writeCache: undefined,
    timerVariant: undefined,
  };
  // WebSockets take the path (mqtt.js adds wsOptions); for the others mqtt.js deletes a path.
  if (webSocket) {
    options.path = broker.path ?? WEBSOCKET_PATH;
    options.wsOptions = undefined;
  }
  return options;
}

/** The options of a device's login: its credentials, keepalive, session kind and TLS settings. */
export function loginOptions(
  login: MqttLogin,
  options: DeviceOptions,
  endpoint: ResolvedEndpoint,
  connectTimeoutMs: number,
): SessionLogin {
  const secure = endpoint.secure;
  return {
    clientId: login.clientId,
    username: login.username,
    password: login.password,
    keepalive: options.keepalive,
    clean: options.cleanSession,
    connectTimeout: connectTimeoutMs,
    ca: secure ? [...(endpoint.ca ?? [])] : undefined,
    rejectUnauthorized: secure ? options.rejectUnauthorized : undefined,
    servername: secure && options.servername ? options.servername : undefined,
  };
}

// Node-RED hands every message to a node in a setImmediate of its own, so a split node's batch
// reaches a publish node one callback at a time, and mqtt-packet's cork (released on nextTick)
// made each message a syscall of its own: tens of microseconds each, the cost that bounded such
// bursts. A session that writes a second time within one turn of the event loop keeps its socket
// corked until the turn's immediates have run or HELD_WRITES messages wait, whichever comes first:
// a writev per batch, while a broker in another process works on the previous one. (Batches of
// 256 or a whole turn's made mosquitto wait for them: its rate fell by a fifth. 16 gave the best
// rate on both brokers.) The first write of a turn is never held: 10,000 devices sending one
// message each pay nothing.
const HELD_WRITES = 16;
const QOS0 = Object.freeze({ qos: 0 as const });
const QOS1 = Object.freeze({ qos: 1 as const });
let turn = 0;
let turnEnds = false;
function endTurn(): void {
  turn++;
  turnEnds = false;
}

export class MqttSession {
  readonly client: MqttClient;
  /**
   * mqtt.js has failed this client's requests as closed: its 'close' event is on the way and
   * nothing more may be sent on it.
   */
  over = false;
  /** Writes held until the end of the turn: see `coalesce`. */
  private corked = false;
  private held = 0;
  private lastTurn = -1;
  private readonly detachers: (() => void)[] = [];

  constructor(connect: Connect, broker: BrokerAddress, login: SessionLogin, handlers: SessionHandlers) {
    this.client = connect(clientOptions(broker, login));
    // MQTT packets are small and answered one by one: Nagle's delay would add tens of ms to each.
    (this.client.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined)?.setNoDelay?.(true);
    for (const [event, handler] of Object.entries(handlers)) {
      const listener = handler as (...args: unknown[]) => void;
      this.client.on(event as 'close', listener);
      this.detachers.push(() => this.client.off(event as 'close', listener));
    }
  }

  /**
   * Every publish of the package goes through here, so a burst's writes are batched whoever sends
   * them. No options object is allocated per message; a QoS 0 publish takes no callback (it would
   * add a drain listener per message once the socket is busy).
   */
  publish(topic: string, payload: Buffer | string, qos: 0 | 1, acknowledged?: (err?: Error) => void): void {
    this.coalesce();
    if (qos === 0) this.client.publish(topic, payload, QOS0);
    else this.client.publish(topic, payload, QOS1, acknowledged);
  }

  /** Before a publish: the second one of a turn corks the socket until the turn ends. */
  private coalesce(): void {
    if (!turnEnds) {
      turnEnds = true;
      setImmediate(endTurn);
    }
    if (this.lastTurn !== turn) {
      this.lastTurn = turn;
      return;
    }
    const stream = this.client.stream as { cork?(): void; uncork(): void } | undefined;
    if (!stream?.cork) return;
    if (this.corked) {
      if (++this.held < HELD_WRITES) return;
      // A full batch goes now; the socket stays corked for the next.
      this.held = 0;
      stream.uncork();
      stream.cork();
      return;
    }
    this.corked = true;
    this.held = 0;
    stream.cork();
    setImmediate(() => {
      this.corked = false;
      stream.uncork();
    });
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
    // What this turn wrote is still corked (held for its batch, and by mqtt-packet until the next
    // tick); destroying the socket would discard QoS 0 messages already reported as sent.
    const stream = this.client.stream as { writableCorked?: number; uncork?(): void } | undefined;
    for (let n = stream?.writableCorked ?? 0; n > 0; n--) stream?.uncork?.();
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
 * request itself was wrong. On a forced teardown (keepalive timeout, stream error, `end(true)`) of a
 * clean session, mqtt.js calls every outstanding callback with "Connection closed" *before* it emits
 * 'close', while `connected` still reads true (a persistent session's callbacks it keeps: the
 * connection requeues those messages itself as the session ends); a graceful end refuses new
 * requests with "client disconnecting".
 */
export function sessionEnded(client: Pick<MqttClient, 'connected' | 'disconnecting'>, err: Error): boolean {
  return (
    err.message === 'Connection closed' ||
    err.message === 'client disconnecting' ||
    client.disconnecting ||
    !client.connected
  );
}
