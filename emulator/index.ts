// A local IoT Platform: MQTT over TCP/TLS/WS/WSS, HTTPS auth and registration, and a cloud API.
// `require('@iotflow/node-red-aliyun-iot/emulator')`; aedes and the certificate code load only here.
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { ApiGate, effectiveApiToken, isLoopbackHost, isWildcardHost } from './access';
import { Accounts, type AccountSpec, type ConsumerGroupSpec } from './accounts';
import { AmqpServer, type AmqpOptions, type AmqpService } from './amqp';
import { EmulatorBroker } from './broker';
import {
  createCertificateAuthority,
  issueServerCertificate,
  serverCertificateNames,
  type CertificateAuthority,
} from './certs';
import { FileServer } from './files';
import { Gateways, GATEWAY_LIMITS, type GatewayCounters, type GatewayLimits } from './gateway';
import { GatewayRoutes } from './gateway-routes';
import { GuessGuard, guessingLimits, type GuessingLimits, type GuessingStats } from './guard';
import { DataFlow } from './dataflow';
import { createHttpsServer, type AuthRequest, type HttpFault } from './http';
import { Lifecycle } from './lifecycle';
import { openApiLimits as resolveOpenApiLimits, type OpenApiLimits } from './openapi-limits';
import { OtaJobs } from './ota';
import { OtaService } from './ota-requests';
import { Platform } from './platform';
import { RawService } from './raw';
import { Registry, type DeviceSpec, type ProductSpec } from './registry';
import { RemoteConfigs } from './remote-config';
import { RemoteConfigService } from './remote-config-requests';
import { Shadows } from './shadow';
import { ShadowService } from './shadow-requests';
import { StateStore } from './state-store';
import { TagService } from './tags';

export type { AccountSpec, ConsumerGroupSpec } from './accounts';
export { Accounts } from './accounts';
export type { AmqpOptions, AmqpService } from './amqp';
export { AMQP_DEFAULTS } from './amqp';
export type { GroupCounters } from './amqp-groups';
export type { DataFlowMessage } from './dataflow';
export type { OpenApiAction, OpenApiLimits } from './openapi-limits';
export { OPENAPI_QPS } from './openapi-limits';
export { iotIdOf } from './openapi-actions';
export type { GatewayCounters, GatewayLimits } from './gateway';
export { Gateways, GATEWAY_LIMITS } from './gateway';
export type { DeviceSpec, NodeType, ProductSpec, DeviceRecord, DeviceCounters, UplinkMessage } from './registry';
export type { ThingModel } from './thing-model';
export type { TslProblem } from './tsl';
export { TslError } from './thing-model';
export { TSL_CODES } from './tsl';
export type { CertificateAuthority } from './certs';
export type { AuthRequest, HttpFault } from './http';
export type { GuessingLimits, GuessingStats, GuessKind } from './guard';
export type { StoredState } from './state-store';
export type { ShadowDocument, StoredShadow } from './shadow';
export type { ShadowService } from './shadow-requests';
export type { Lifecycle, Notice, NoticeOutcome, NoticeReply } from './lifecycle';
export type { RawService, RawMessage, RawAnswer } from './raw';
export type { TagService } from './tags';
export type { FileServer, FileRequest } from './files';
export type { OtaJob, OtaJobSpec, OtaStatus, OtaSignMethod, OtaProtocol } from './ota';
export type { OtaService, OtaStart } from './ota-requests';
export type { ProductConfig, ConfigPushReply } from './remote-config';
export type { RemoteConfigService } from './remote-config-requests';
export { crc16Arc } from './mqtt-download';
export { isLoopbackHost } from './access';
export { createCertificateAuthority } from './certs';
export { Registry, describeDevice } from './registry';

export interface EmulatorPorts {
  mqtt: number;
  mqtts: number;
  ws: number;
  wss: number;
  https: number;
  /** HTTPS file server: OTA firmware and remote configuration files (OSS-like signed URLs). */
  files: number;
  /** AMQP 1.0 over TLS: the server-side subscription (PLATFORM.md §17.1). */
  amqp: number;
}

export interface EmulatorOptions {
  devices?: readonly DeviceSpec[];
  /** With `tsl` (the console's TSL export), the product's thing model is checked as the platform does. */
  products?: readonly ProductSpec[];
  /** 0 (the default for each) picks a free port. */
  ports?: Partial<EmulatorPorts>;
  /** Address to listen on; 127.0.0.1 by default. */
  host?: string;
  /** A CA to issue the server certificate from; a fresh one is made when absent. */
  ca?: CertificateAuthority;
  /** Upstream messages per second per device (30, as the platform); 0 switches it off. */
  rateLimit?: number;
  /** HTTPS-auth token lifetime; 7 days, as the platform. */
  tokenLifetimeMs?: number;
  /**
   * When set, `/api/*` needs `Authorization: Bearer <apiToken>` whatever the host. Without it, a
   * host other than loopback gets a generated token (see `Emulator.apiToken`) unless `openApi`.
   */
  apiToken?: string;
  /** Leaves the cloud API open on a host other than loopback: anyone who reaches it controls every device. */
  openApi?: boolean;
  /**
   * Keeps the state (registered devices and their secrets, activation, tokens) in
   * `<dataDir>/state.json` across restarts. Devices given here with a secret keep that secret;
   * devices given without one take what they obtained before; stored devices not given are kept.
   */
  dataDir?: string;
  /**
   * Slowing down of failed logins, device calls and API tokens per remote address. On by default
   * for a host other than loopback; given limits switch it on anywhere; false switches it off.
   */
  guessing?: GuessingLimits | false;
  /** Extra names or addresses for the server certificate, for clients that reach the emulator by them. */
  serverNames?: readonly string[];
  /** Gateway limits (2,000 sub-devices, 2,000 online, 200 logins/s); smaller ones make tests quick. */
  gatewayLimits?: Partial<GatewayLimits>;
  /** Warnings and refusals, one line each; stderr by default. Never given a secret. */
  log?: (line: string) => void;
  /** AccessKeys that may call the OpenAPI and log in to the AMQP subscription. */
  accounts?: readonly AccountSpec[];
  /** Consumer groups of the AMQP server-side subscription. */
  consumerGroups?: readonly ConsumerGroupSpec[];
  /** The emulated instance's ID; unset, an old public instance (PLATFORM.md §17). */
  iotInstanceId?: string;
  /** The AMQP subscription's timings (ACK timeout 30 s, link deadline 15 s...); shorter ones make tests quick. */
  amqp?: AmqpOptions;
  /**
   * The OpenAPI at `/` of the HTTPS port (PLATFORM.md §17.2): calls per second per AccessKey and
   * action (the platform's by default; 0 switches one off), the nonce and timestamp windows (15 min).
   */
  openApiLimits?: OpenApiLimits;
}

export interface EmulatorStats {
  guessing: GuessingStats;
  gateways: GatewayCounters;
}

export interface Emulator {
  host: string;
  ports: EmulatorPorts;
  /** PEM a client trusts to reach the TLS, WSS and HTTPS listeners. */
  ca: string;
  registry: Registry;
  /** AccessKeys, consumer groups and the instance ID of the cloud side (OpenAPI, AMQP). */
  accounts: Accounts;
  /**
   * The AMQP server-side subscription: `amqp.counters(groupId)`, `amqp.connections(groupId)`,
   * `amqp.publish(message)` (a data-flow message to every group), `amqp.kick(clientId)` (cuts its
   * connection), `amqp.detach(clientId)` (ends its link, keeps the connection).
   */
  amqp: AmqpService;
  /** Cloud-side calls, the same the HTTP API makes. */
  platform: Platform;
  broker: EmulatorBroker;
  /** Gateways' topology and sub-device sessions. */
  gateways: Gateways;
  /** Device shadows (`shadows.shadows.document(device)`), and `pushControl` as the cloud API does it. */
  shadows: ShadowService;
  /**
   * The file server OTA and remote configuration URLs point to. Test hooks: `files.requests` (each
   * request with its Range header), `files.cutNext(url, n)` (the next download of that file stops
   * after n bytes of body, the connection destroyed), `files.offer(bytes, {name, expiresMs})`.
   */
  files: FileServer;
  /**
   * OTA upgrades: `ota.start(device, spec)` as `POST /api/devices/{pk}/{dn}/ota` does it, the jobs
   * (`ota.jobs.latest(device)`), the push (`ota.pushMessage(job)`), counters.
   */
  ota: OtaService;
  /** Remote configuration: `remoteConfig.update(pk, bytes)` as `POST /api/products/{pk}/config`, `remoteConfig.configs`. */
  remoteConfig: RemoteConfigService;
  /** Device tags (`thing/deviceinfo/update|delete`); a device's tags are `registry.device(pk, dn).tags`. */
  tags: TagService;
  /**
   * Disable, enable and delete as `POST /api/devices/{pk}/{dn}/disable|enable|delete` do them
   * (`lifecycle.disable(device, waitMs)`...), and the devices' replies (`lifecycle.repliesOf(device)`).
   */
  lifecycle: Lifecycle;
  /**
   * Raw data: `raw.down(device, bytes, timeoutMs)` as `POST /api/devices/{pk}/{dn}/raw`, `raw.recentOf(device)`,
   * and `raw.upRawReply`, the stand-in for the product script's `up_raw_reply` bytes (replaceable).
   */
  raw: RawService;
  /** Makes the next matching HTTPS device call fail this way (500, a non-JSON body, no answer). */
  injectHttpFault(fault: HttpFault): void;
  /** HTTPS device calls received, newest last. */
  authRequests: readonly AuthRequest[];
  /** What `/api/*` needs as `Authorization: Bearer <apiToken>`; undefined when the API is open. */
  apiToken: string | undefined;
  /** The state file when `dataDir` was given. */
  statePath: string | undefined;
  /** Counters of the guessing limits, as `GET /api/stats` answers them. */
  stats(): EmulatorStats;
  close(): Promise<void>;
}

function defaultLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? defaultLog;
  const apiToken = effectiveApiToken(host, options.apiToken, options.openApi === true);
  // First: a TSL it cannot read stops the start before any certificate is issued.
  const registry = new Registry(options.devices, options.products, options.tokenLifetimeMs);
  const accounts = new Accounts(options);
  const amqp = new AmqpServer(accounts, options.amqp ?? {}, log);
  // What devices do, as the subscription's messages; no work while there is no consumer group.
  const flow = new DataFlow({
    model: (productKey) => registry.model(productKey),
    emit: (message) => amqp.publish(message),
    wanted: () => accounts.groups().length > 0,
  });
  const openApiLimits = resolveOpenApiLimits(options.openApiLimits);
  const guard = new GuessGuard(
    guessingLimits(options.guessing || {}),
    options.guessing === undefined ? !isLoopbackHost(host) : options.guessing !== false,
    log,
  );
  const ca = options.ca ?? createCertificateAuthority();
  const tls = issueServerCertificate(ca, serverCertificateNames(host, options.serverNames ?? []));
  const gateways = new Gateways(registry, { ...GATEWAY_LIMITS, ...options.gatewayLimits });
  gateways.onChange = () => registry.changed();
  const shadows = new Shadows();
  shadows.onChange = () => registry.changed();
  const store = options.dataDir === undefined ? undefined : new StateStore(options.dataDir, log);
  if (store) {
    const state = store.load();
    if (state) {
      registry.restore(state);
      gateways.restore(state.topology ?? []);
      shadows.restore(state.shadows ?? [], (pk, dn) => registry.device(pk, dn) !== undefined);
    }
    const snapshot = () => ({ ...registry.snapshot(), topology: gateways.snapshot(), shadows: shadows.snapshot() });
    registry.onChange = () => store.schedule(snapshot);
    // The merged state is what this run starts from: on disk before anyone can log in, so a crash
    // right after the start cannot bring back what the merge dropped (expired tokens, old secrets).
    store.saveNow(snapshot);
  }
  // The broker reports uplink to the platform, which publishes its replies through the broker.
  const uplink: {
    platform?: Platform;
    routes?: GatewayRoutes;
    shadows?: ShadowService;
    ota?: OtaService;
    remoteConfig?: RemoteConfigService;
    tags?: TagService;
    lifecycle?: Lifecycle;
    raw?: RawService;
  } = {};
  const broker = await EmulatorBroker.create({
    registry,
    rateLimit: options.rateLimit ?? 30,
    onUplink: (device, topic, payload, qos) => {
      // Seen by the data flow whoever handles it below.
      flow.uplink(device, topic, payload);
      if (uplink.shadows?.handle(device, topic, payload, qos)) return;
      if (uplink.ota?.handle(device, topic, payload, qos)) return;
      if (uplink.remoteConfig?.handle(device, topic, payload, qos)) return;
      if (uplink.tags?.handle(device, topic, payload)) return;
      if (uplink.lifecycle?.handle(device, topic, payload)) return;
      if (uplink.raw?.handle(device, topic, payload, qos)) return;
      if (!uplink.routes?.handle(device, topic, payload)) uplink.platform?.onUplink(device, topic, payload);
    },
    guard,
    subDevices: {
      isGateway: (device) => registry.isGateway(device),
      sessionOf: (sub) => gateways.sessionOf(sub),
      refused: (gateway, sub, payload) => uplink.routes?.refused(gateway, sub, payload),
      started: (device) => {
        gateways.directLogin(device);
      },
      ended: (device) => {
        flow.offline(device, device.lastDisconnectReason);
        // The gateway went offline: so did every sub-device it carried (PLATFORM.md §11).
        if (registry.isGateway(device)) gateways.endAll(device, 'gateway-offline');
      },
    },
    sessions: {
      ready: (device) => {
        flow.online(device, broker.addressOf(device));
        uplink.ota?.sessionStarted(device);
      },
      subscribed: (device, filters) => uplink.ota?.subscribed(device, filters),
    },
  });
  const platform = new Platform(broker, { model: (productKey) => registry.model(productKey), log });
  uplink.platform = platform;
  const shadowService = new ShadowService(shadows, (topic, payload, qos) => broker.publish(topic, payload, qos));
  uplink.shadows = shadowService;
  const publishAny = (topic: string, payload: Buffer | string, qos: 0 | 1) => broker.publish(topic, payload, qos);
  const tags = new TagService(publishAny, () => registry.changed());
  uplink.tags = tags;
  const lifecycle = new Lifecycle({
    registry,
    gateways,
    broker,
    forget: (device) => shadows.forget(device),
    changed: (device, notice) => flow.lifecycle(device, notice),
  });
  uplink.lifecycle = lifecycle;
  const raw = new RawService(publishAny);
  uplink.raw = raw;
  // Download URLs name the host devices reach the emulator by; on every interface, this machine's name.
  const files = new FileServer(tls, isWildcardHost(host) ? (options.serverNames?.[0] ?? hostname()) : host);
  const otaJobs = new OtaJobs();
  const ota = new OtaService(otaJobs, {
    registry,
    files,
    publish: publishAny,
    connectionOf: (device) => (device.online ? (gateways.sessionOf(device) ?? device) : undefined),
    log,
  });
  uplink.ota = ota;
  // A sub-device's session starts with its login reply: its open jobs are pushed right after it.
  gateways.onLogin = (subs) => {
    for (const sub of subs) {
      const gateway = gateways.sessionOf(sub);
      flow.online(sub, gateway && broker.addressOf(gateway));
    }
    setImmediate(() => subs.forEach((sub) => ota.sessionStarted(sub)));
  };
  gateways.onSessionEnd = (sub) => flow.offline(sub, sub.lastDisconnectReason);
  gateways.onTopology = (gateway, action, subs) => flow.topology(gateway, action, subs);
  const remoteConfig = new RemoteConfigService(new RemoteConfigs(), { registry, files, publish: publishAny, log });
  uplink.remoteConfig = remoteConfig;
  const routes = new GatewayRoutes(gateways, (topic, payload) => {
    broker.publish(topic, payload, 0).catch(() => undefined);
  });
  routes.endDirect = (sub) => {
    broker.endSession(sub, 'kicked');
    flow.offline(sub, 'kicked');
  };
  gateways.notices = routes;
  uplink.routes = routes;
  const wanted = { mqtt: 0, mqtts: 0, ws: 0, wss: 0, https: 0, files: 0, amqp: 0, ...options.ports };
  let mqttTlsPort = 0;
  const faults: HttpFault[] = [];
  const authRequests: AuthRequest[] = [];
  const stats = (): EmulatorStats => ({ guessing: guard.stats(), gateways: { ...gateways.counters } });
  // On every interface, a device is told the name it reached the emulator by, not 0.0.0.0.
  const wildcard = isWildcardHost(host);
  const https = createHttpsServer(
    {
      registry,
      platform,
      broker,
      gateways,
      shadows: shadowService,
      ota,
      remoteConfig,
      lifecycle,
      raw,
      mqtt: (requestHost) => ({ host: (wildcard && requestHost) || host, port: mqttTlsPort }),
      faults,
      authRequests,
      apiGate: apiToken === undefined ? undefined : new ApiGate(apiToken),
      guard,
      log,
      stats,
      accounts,
      openApiLimits,
    },
    tls,
  );
  try {
    const mqttPorts = await broker.listen({ host, ports: wanted, tls });
    mqttTlsPort = mqttPorts.mqtts;
    await new Promise<void>((resolve, reject) => {
      https.once('error', reject);
      https.listen(wanted.https, host, resolve);
    });
    await files.listen(wanted.files, host);
    await amqp.listen(wanted.amqp, host, tls);
  } catch (err) {
    guard.close();
    https.close();
    files.close();
    otaJobs.close();
    await amqp.close();
    await broker.close();
    store?.close();
    throw err;
  }
  const ports: EmulatorPorts = {
    ...broker.ports(),
    https: (https.address() as AddressInfo).port,
    files: files.port,
    amqp: amqp.port,
  };
  return {
    host,
    ports,
    ca: ca.cert,
    registry,
    accounts,
    amqp,
    platform,
    broker,
    gateways,
    shadows: shadowService,
    files,
    ota,
    remoteConfig,
    tags,
    lifecycle,
    raw,
    injectHttpFault: (fault) => faults.push(fault),
    authRequests,
    apiToken,
    statePath: store?.path,
    stats,
    async close() {
      guard.close();
      platform.close();
      lifecycle.close();
      raw.close();
      https.close();
      https.closeAllConnections();
      files.close();
      otaJobs.close();
      await amqp.close();
      await broker.close();
      store?.close();
    },
  };
}
