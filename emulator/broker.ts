// The emulator's MQTT side: an aedes broker whose hooks enforce the platform's rules, reached over
// TCP, TLS, WS and WSS (path /mqtt).
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Aedes, Client, Subscription } from 'aedes' with { 'resolution-mode': 'import' };
import { randomBytes } from 'node:crypto';
import { peerAddress } from './access';
import type { GuessGuard } from './guard';
import { checkLogin, parseMqttClientId, type EmulatorTransport, type RegistrationPush } from './login';
import { deviceKey, type DeviceRecord, type Registry } from './registry';
import { SubDeviceRouting, type SubDeviceHooks } from './sub-device-routing';
import { extRrpcBit } from './ext-rrpc';
import { filterMatches, isExtRrpc, shadowWrongWay, systemTopicDevice } from './topics';

export const KEEPALIVE_MAX = 1200;
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** The prefix a dropped publish is moved under: no device can subscribe to it, `#` never matches `$`. */
const DROPPED = '$dropped/';

export interface BrokerOptions {
  registry: Registry;
  /** Upstream messages per second per device; 0 switches the limit off (benchmarks). */
  rateLimit: number;
  onUplink: (device: DeviceRecord, topic: string, payload: Buffer, qos: number) => void;
  /** Slows down logins from an address that keeps failing them. */
  guard: GuessGuard;
  /** Gateways speaking for their logged-in sub-devices; none: every device speaks for itself. */
  subDevices?: SubDeviceHooks;
  /**
   * A device's session is ready (after its CONNACK), and a connection's SUBSCRIBE took effect:
   * what the platform pushes again at reconnect (OTA, emulator/ota-requests.ts) goes out then.
   */
  sessions?: {
    ready(device: DeviceRecord): void;
    subscribed(device: DeviceRecord, filters: string[]): void;
  };
}

export interface ListenOptions {
  host: string;
  ports: { mqtt: number; mqtts: number; ws: number; wss: number };
  tls: { cert: string; key: string };
}

interface Pending {
  mqttClientId: string;
  keepalive: number;
}

/**
 * A connection's SUBSCRIBEs not in force yet, and the publishes that arrived after them. aedes handles
 * the packets of one read concurrently, and a persistent session stores a subscription before it
 * takes effect, so a request could be answered before the SUBSCRIBE ahead of it was in force. The
 * platform handles a connection's packets in order: a publish waits for the SUBSCRIBEs before it.
 */
interface PacketOrder {
  /** Filters authorized whose SUBSCRIBE has not completed. */
  subscribing: number;
  held: (() => void)[];
}

interface RateWindow {
  start: number;
  count: number;
}

/**
 * Connections the kernel may hold for the emulator before it accepts them. The platform's front
 * end takes a fleet's logins all at once; Node's default (511) made a fleet of 10,000 logging in
 * together lose SYNs here and retry them 1, 3, 7, 15 and 31 s later, so the emulator, not the
 * client, set the time. The kernel caps it at net.core.somaxconn.
 */
const BACKLOG = 65_535;

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: BACKLOG }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export class EmulatorBroker {
  private readonly transports = new WeakMap<object, EmulatorTransport>();
  /** The remote address of each connection's stream, for the guessing limits. */
  private readonly addresses = new WeakMap<object, string>();
  private readonly pending = new WeakMap<Client, Pending>();
  private readonly devices = new WeakMap<Client, DeviceRecord>();
  private readonly online = new Map<DeviceRecord, Client>();
  private readonly closeReasons = new WeakMap<Client, string>();
  /** Registration sessions: what to push once the client is ready, then hang up. */
  private readonly registrations = new WeakMap<Client, RegistrationPush>();
  /** Token sessions end when their token does. */
  private readonly tokenTimers = new WeakMap<Client, { expiresAt: number; timer?: NodeJS.Timeout }>();
  private readonly rates = new Map<DeviceRecord, RateWindow>();
  private readonly order = new WeakMap<Client, PacketOrder>();
  /** Connections that logged in with `_ss=1`: system topics reach them without a SUBSCRIBE. */
  private readonly serverSubscribed = new WeakSet<Client>();
  private readonly servers: NetServer[] = [];
  private readonly sockets = new Set<Duplex>();
  private readonly webSocketServers: WebSocketServer[] = [];
  private bound: ListenOptions['ports'] = { mqtt: 0, mqtts: 0, ws: 0, wss: 0 };

  /** Set by create(): aedes needs the hooks at construction, the hooks need this object. */
  aedes!: Aedes;

  /** Which device a connection speaks for on a topic: its own, or a sub-device's. */
  private readonly routing: SubDeviceRouting;

  private constructor(private readonly opts: BrokerOptions) {
    this.routing = new SubDeviceRouting(opts.registry, opts.subDevices);
  }

  static async create(opts: BrokerOptions): Promise<EmulatorBroker> {
    const { Aedes } = await import('aedes');
    const broker = new EmulatorBroker(opts);
    broker.aedes = await Aedes.createBroker({
      maxClientsIdLength: 256,
      preConnect: (client, packet, cb) => {
        broker.pending.set(client, { mqttClientId: packet.clientId, keepalive: packet.keepalive ?? 0 });
        // The platform accepts a longer keepalive and treats it as its maximum.
        if ((packet.keepalive ?? 0) > KEEPALIVE_MAX) packet.keepalive = KEEPALIVE_MAX;
        cb(null, true);
      },
      authenticate: (client, username, password, cb) => {
        const address = broker.addresses.get(client.conn) ?? 'unknown';
        // Over the guessing limit the check waits; aedes keeps the connection paused meanwhile.
        opts.guard.admit('mqtt', address, (go) => {
          // A client that hung up while it waited is not checked: its login must change nothing.
          if (go && !client.closed) broker.authenticate(client, username, password, cb, address);
          else cb(Object.assign(new Error('server unavailable'), { returnCode: 3 }), false);
        });
      },
      authorizePublish: (client, packet, cb) => {
        if (client) broker.inOrder(client, () => broker.authorizePublish(client, packet, cb));
        else cb(null);
      },
      authorizeSubscribe: (client, sub, cb) => {
        broker.authorizeSubscribe(client, sub, cb);
      },
      authorizeForward: (client, packet) => {
        // A device's answer on `/ext/rrpc/...` goes to the platform only, never back to the
        // subscribers of the request's topic (PLATFORM.md §16.2: the reply uses the same topic).
        // aedes marks what a client published with its id; the platform's own publishes carry none.
        const from = (packet as { clientId?: string }).clientId;
        if (from !== undefined && isExtRrpc(packet.topic)) return null;
        const device = broker.devices.get(client);
        // A gateway's subscription to a sub-device's topic delivers only while that sub-device is
        // logged in through it: the platform sends nothing for a sub-device that is offline.
        if (device && !broker.routing.mayForward(device, packet.topic)) return null;
        if (device) device.counters.messagesOut++;
        return packet;
      },
    });
    broker.watch();
    return broker;
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    cb: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
    address: string,
  ): void {
    const pending = this.pending.get(client) ?? { mqttClientId: client.id, keepalive: 0 };
    const transport = this.transports.get(client.conn) ?? 'tcp';
    const checked = checkLogin(this.opts.registry, { ...pending, username, password, transport });
    // A device disabled from the cloud is refused as not authorized. So is a deleted one: UNVERIFIED
    // (PLATFORM.md §16.3: "CONNACK 4 or 5"); 5 tells it from a name that never existed (4).
    const result =
      checked.ok && checked.device.disabled
        ? { ok: false as const, device: checked.device, reason: 'disabled', returnCode: 5 }
        : !checked.ok && checked.reason === 'unknown-device' && this.opts.registry.deletedLogin(username ?? '')
          ? { ...checked, reason: 'deleted', returnCode: 5 }
          : checked;
    if (!result.ok) {
      this.opts.registry.refuse(result.device, result.reason);
      // 4 and 5 answer a wrong secret, token or name: what a guesser gets.
      if (result.returnCode === 4 || result.returnCode === 5) this.opts.guard.fail('mqtt', address);
      cb(Object.assign(new Error(result.reason), { returnCode: result.returnCode }), false);
      return;
    }
    const device = result.device;
    if (result.via === 'register' || result.via === 'regnwl') {
      // Not a device session: its own id, so it kicks nothing; no topics, so it can do nothing.
      (client as { id: string }).id = `${result.via}|${randomBytes(6).toString('hex')}`;
      this.registrations.set(client, result.push);
      cb(null, true);
      return;
    }
    if (!device.activated) {
      device.activated = true;
      this.opts.registry.changed();
    }
    if (result.via === 'token') {
      const token = this.opts.registry.token(username ?? '');
      if (token) this.tokenTimers.set(client, { expiresAt: token.expiresAt });
    }
    const key = deviceKey(device.productKey, device.deviceName);
    const older = this.online.get(device);
    if (older && !older.closed) {
      device.counters.kicks++;
      this.closeReasons.set(older, 'kicked');
    }
    // One session per device, whatever the clientId: aedes then closes the older connection itself.
    (client as { id: string }).id = key;
    this.opts.subDevices?.started(device);
    device.keepalive = Math.min(pending.keepalive, KEEPALIVE_MAX);
    const flags = parseMqttClientId(pending.mqttClientId)?.ext;
    device.serverSubscribed = flags?.get('_ss') === '1';
    device.extRrpc = extRrpcBit(flags?.get('ext'));
    if (device.serverSubscribed) this.serverSubscribed.add(client);
    // Before the CONNACK: the client may subscribe as soon as it has it, before 'clientReady' fires.
    if (client.clean) device.subscriptions.clear();
    this.devices.set(client, device);
    cb(null, true);
  }

  private authorizePublish(
    client: Client,
    packet: { topic: string; qos: number; payload: Buffer | string; retain: boolean },
    cb: (error?: Error | null) => void,
  ): void {
    const device = this.devices.get(client);
    if (!device) {
      cb(new Error('not authenticated'));
      return;
    }
    if (packet.qos === 2) {
      this.opts.registry.drop(device, 'qos2');
      cb(new Error('QoS 2 is not supported'));
      return;
    }
    const reason = this.dropReason(device, packet);
    if (reason) {
      this.opts.registry.drop(device, reason);
      packet.topic = DROPPED + reason;
    }
    packet.retain = false;
    cb(null);
  }

  private dropReason(device: DeviceRecord, packet: { topic: string; payload: Buffer | string }): string | undefined {
    // Answers come from the platform: a device publishing on `/shadow/get/...` is refused.
    if (shadowWrongWay(packet.topic, 'publish')) return 'forbidden-topic';
    const actor = this.routing.actorOf(device, packet.topic);
    if (!actor) {
      const owner = this.routing.refusedOwner(device, packet.topic);
      if (!owner) return 'forbidden-topic';
      this.opts.subDevices?.refused(device, owner, Buffer.from(packet.payload));
      return 'sub-device-offline';
    }
    if (Buffer.byteLength(packet.payload) > MAX_PAYLOAD_BYTES) return 'payload-too-large';
    if (this.opts.rateLimit > 0) {
      // A sub-device's messages count against the sub-device, as if it were connected itself.
      const now = Date.now();
      const window = this.rates.get(actor);
      if (!window || now - window.start >= 1000) this.rates.set(actor, { start: now, count: 1 });
      else if (++window.count > this.opts.rateLimit) return 'rate-limit';
    }
    return undefined;
  }

  private authorizeSubscribe(
    client: Client,
    sub: Subscription,
    cb: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const device = this.devices.get(client);
    if (!device) {
      cb(null, null);
      return;
    }
    // A session restored before the CONNACK is not a SUBSCRIBE of this connection.
    if ((client as unknown as { connackSent?: boolean }).connackSent) this.orderOf(client).subscribing++;
    device.counters.subscribeRequests++;
    if (sub.qos > 1 || !this.routing.maySubscribe(device, sub.topic)) {
      this.opts.registry.drop(device, 'subscribe-refused');
      cb(null, null);
      return;
    }
    device.subscriptions.add(sub.topic);
    // The platform delivers with the publisher's QoS whatever the subscription asked for: the
    // subscription is kept (and, in a persistent session, stored) at QoS 1. The SUBACK still grants
    // what was asked: aedes read the granted QoS from the request before this hook.
    sub.qos = 1;
    cb(null, sub);
  }

  private orderOf(client: Client): PacketOrder {
    let order = this.order.get(client);
    if (!order) this.order.set(client, (order = { subscribing: 0, held: [] }));
    return order;
  }

  /** Runs `next` now, or once the SUBSCRIBEs that came before it are in force. */
  private inOrder(client: Client, next: () => void): void {
    const order = this.order.get(client);
    if (!order || order.subscribing === 0) return next();
    order.held.push(next);
  }

  private subscribed(client: Client, filters: number): void {
    const order = this.order.get(client);
    if (!order) return;
    order.subscribing = Math.max(0, order.subscribing - filters);
    if (order.subscribing === 0) this.release(client);
  }

  /**
   * Lets held publishes go, oldest first. When the connection has ended, aedes still handles them:
   * a QoS 0 publish goes out, a QoS 1 one fails on its PUBACK and is never published (the device
   * sends it again on its next session).
   */
  private release(client: Client): void {
    const order = this.order.get(client);
    if (!order) return;
    const held = order.held;
    order.held = [];
    order.subscribing = 0;
    for (const next of held) next();
  }

  private watch(): void {
    const { aedes } = this;
    aedes.on('clientReady', (client) => {
      const push = this.registrations.get(client);
      if (push) return this.pushRegistration(client, push);
      const expiry = this.tokenTimers.get(client);
      if (expiry) {
        expiry.timer = setTimeout(
          () => {
            this.closeReasons.set(client, 'token-expired');
            client.close();
          },
          Math.max(0, expiry.expiresAt - Date.now()),
        );
        expiry.timer.unref();
      }
      const device = this.devices.get(client);
      if (!device) return;
      device.online = true;
      device.counters.connects++;
      device.lastConnectAt = Date.now();
      this.online.set(device, client);
      this.opts.sessions?.ready(device);
    });
    aedes.on('keepaliveTimeout', (client) => this.closeReasons.set(client, 'keepalive-timeout'));
    aedes.on('subscribe', (subs, client) => {
      this.subscribed(client, subs.length);
      const device = this.devices.get(client);
      // A refused filter is listed too, granted 128.
      const granted = subs.filter((sub) => (sub.qos as number) !== 128).map((sub) => sub.topic);
      if (device && granted.length > 0) this.opts.sessions?.subscribed(device, granted);
    });
    aedes.on('clientDisconnect', (client) => {
      this.release(client);
      clearTimeout(this.tokenTimers.get(client)?.timer);
      const device = this.devices.get(client);
      if (!device || this.online.get(device) !== client) return;
      this.online.delete(device);
      device.online = false;
      device.lastDisconnectAt = Date.now();
      const graceful = (client as unknown as { _disconnected?: boolean })._disconnected === true;
      device.lastDisconnectReason =
        this.closeReasons.get(client) ?? (graceful ? 'client-disconnect' : 'connection-lost');
      if (client.clean) device.subscriptions.clear();
      this.opts.subDevices?.ended(device);
    });
    aedes.on('unsubscribe', (topics, client) => {
      const device = this.devices.get(client);
      for (const topic of topics) device?.subscriptions.delete(topic);
    });
    aedes.on('publish', (packet, client) => {
      const connected = client ? this.devices.get(client) : undefined;
      if (!connected || packet.topic.startsWith('$')) return;
      const device = this.routing.actorOf(connected, packet.topic) ?? connected;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const text = payload.toString('utf8');
      // Bytes that are not UTF-8 text (raw data) are kept whole beside the text.
      const lossy = text.includes('\uFFFD') && !Buffer.from(text, 'utf8').equals(payload);
      this.opts.registry.recordUplink(device, {
        topic: packet.topic,
        payload: text,
        qos: packet.qos,
        time: Date.now(),
        ...(lossy && { payloadBase64: payload.toString('base64') }),
      });
      this.opts.onUplink(device, packet.topic, payload, packet.qos);
    });
  }

  private pushRegistration(client: Client, push: RegistrationPush): void {
    const packet = {
      cmd: 'publish',
      topic: push.topic,
      payload: Buffer.from(JSON.stringify(push.payload)),
      qos: 0,
      retain: false,
      dup: false,
    };
    (client as unknown as { publish(p: object, done: () => void): void }).publish(packet, () => {
      // The platform hangs up once the result is out.
      setTimeout(() => client.close(), 50).unref();
    });
  }

  /**
   * Publishes from the platform side to whoever subscribed, and to a `_ss=1` device that did not
   * subscribe a system topic of its own.
   */
  publish(topic: string, payload: Buffer | string, qos: 0 | 1): Promise<void> {
    const packet = { cmd: 'publish' as const, topic, payload: Buffer.from(payload), qos, retain: false, dup: false };
    const unsubscribed = this.serverSideTarget(topic);
    return new Promise((resolve, reject) => {
      this.aedes.publish(packet, (err?: Error | null) => (err ? reject(err) : resolve()));
      (unsubscribed as unknown as { publish(p: object, done: () => void): void } | undefined)?.publish(
        { ...packet },
        () => undefined,
      );
    });
  }

  /** The `_ss=1` connection a system topic is for, when none of its own filters matches it. */
  private serverSideTarget(topic: string): Client | undefined {
    const owner = systemTopicDevice(topic);
    const device = owner && this.opts.registry.device(owner.productKey, owner.deviceName);
    const gateway = device && this.opts.subDevices?.sessionOf(device);
    const client = device && this.online.get(gateway ?? device);
    if (!client || client.closed || !this.serverSubscribed.has(client)) return undefined;
    const filters = Object.keys((client as unknown as { subscriptions: Record<string, unknown> }).subscriptions);
    return filters.some((filter) => filterMatches(filter, topic)) ? undefined : client;
  }

  /** The remote address of the device's own connection while it is online (a status message's clientIp). */
  addressOf(device: DeviceRecord): string | undefined {
    const client = this.online.get(device);
    return client ? this.addresses.get(client.conn) : undefined;
  }

  /** Drops a device's connection as the platform would (no DISCONNECT packet). */
  disconnect(device: DeviceRecord, reason: string): boolean {
    const client = this.online.get(device);
    if (!client) return false;
    this.closeReasons.set(client, reason);
    client.close();
    return true;
  }

  /** Ends a device's direct session at once (it logs in through a gateway now), no DISCONNECT. */
  endSession(device: DeviceRecord, reason: string): void {
    const client = this.online.get(device);
    if (!client) return;
    this.online.delete(device);
    device.lastDisconnectAt = Date.now();
    device.lastDisconnectReason = reason;
    this.closeReasons.set(client, reason);
    client.close();
  }

  private handle(stream: Duplex, transport: EmulatorTransport, req?: IncomingMessage): void {
    this.transports.set(stream, transport);
    this.addresses.set(
      stream,
      peerAddress(req?.socket.remoteAddress ?? (stream as { remoteAddress?: string }).remoteAddress),
    );
    this.sockets.add(stream);
    stream.once('close', () => this.sockets.delete(stream));
    this.aedes.handle(stream, req);
  }

  async listen({ host, ports, tls }: ListenOptions): Promise<ListenOptions['ports']> {
    // No Nagle delay: small MQTT packets go out at once, as on the platform's front ends.
    const tcp = createNetServer({ noDelay: true }, (socket) => this.handle(socket, 'tcp'));
    const secure = createTlsServer({ ...tls, noDelay: true }, (socket) => this.handle(socket, 'tls'));
    const ws = this.webSocket(createHttpServer(), 'ws');
    const wss = this.webSocket(createHttpsServer(tls), 'wss');
    this.servers.push(tcp, secure, ws, wss);
    this.bound = {
      mqtt: await listen(tcp, ports.mqtt, host),
      mqtts: await listen(secure, ports.mqtts, host),
      ws: await listen(ws, ports.ws, host),
      wss: await listen(wss, ports.wss, host),
    };
    return this.bound;
  }

  ports(): ListenOptions['ports'] {
    return { ...this.bound };
  }

  private webSocket(server: HttpServer, transport: 'ws' | 'wss'): HttpServer {
    const wss = new WebSocketServer({ server, path: '/mqtt' });
    wss.on('connection', (socket, req) => {
      this.handle(createWebSocketStream(socket), transport, req);
    });
    this.webSocketServers.push(wss);
    return server;
  }

  async close(): Promise<void> {
    for (const server of this.servers) server.close();
    for (const wss of this.webSocketServers) {
      for (const socket of wss.clients) socket.terminate();
      wss.close();
    }
    await new Promise<void>((resolve) => {
      this.aedes.close(() => {
        resolve();
      });
    });
    for (const socket of this.sockets) socket.destroy();
    for (const server of this.servers) {
      if ('closeAllConnections' in server) (server as HttpServer).closeAllConnections();
    }
  }
}
