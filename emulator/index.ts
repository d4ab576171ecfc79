// A local IoT Platform: MQTT over TCP/TLS/WS/WSS, HTTPS auth and registration, and a cloud API.
// `require('@iotflow/node-red-aliyun-iot/emulator')`; aedes and the certificate code load only here.
import type { AddressInfo } from 'node:net';
import { ApiGate, effectiveApiToken, isLoopbackHost, isWildcardHost } from './access';
import { EmulatorBroker } from './broker';
import {
  createCertificateAuthority,
  issueServerCertificate,
  serverCertificateNames,
  type CertificateAuthority,
} from './certs';
import { Gateways, GATEWAY_LIMITS, type GatewayCounters, type GatewayLimits } from './gateway';
import { GatewayRoutes } from './gateway-routes';
import { GuessGuard, guessingLimits, type GuessingLimits, type GuessingStats } from './guard';
import { createHttpsServer, type AuthRequest, type HttpFault } from './http';
import { Platform } from './platform';
import { Registry, type DeviceSpec, type ProductSpec } from './registry';
import { Shadows } from './shadow';
import { ShadowService } from './shadow-requests';
import { StateStore } from './state-store';

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
export { isLoopbackHost } from './access';
export { createCertificateAuthority } from './certs';
export { Registry, describeDevice } from './registry';

export interface EmulatorPorts {
  mqtt: number;
  mqtts: number;
  ws: number;
  wss: number;
  https: number;
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
  /** Cloud-side calls, the same the HTTP API makes. */
  platform: Platform;
  broker: EmulatorBroker;
  /** Gateways' topology and sub-device sessions. */
  gateways: Gateways;
  /** Device shadows (`shadows.shadows.document(device)`), and `pushControl` as the cloud API does it. */
  shadows: ShadowService;
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
  const uplink: { platform?: Platform; routes?: GatewayRoutes; shadows?: ShadowService } = {};
  const broker = await EmulatorBroker.create({
    registry,
    rateLimit: options.rateLimit ?? 30,
    onUplink: (device, topic, payload, qos) => {
      if (uplink.shadows?.handle(device, topic, payload, qos)) return;
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
        // The gateway went offline: so did every sub-device it carried (PLATFORM.md §11).
        if (registry.isGateway(device)) gateways.endAll(device, 'gateway-offline');
      },
    },
  });
  const platform = new Platform(broker, { model: (productKey) => registry.model(productKey), log });
  uplink.platform = platform;
  const shadowService = new ShadowService(shadows, (topic, payload, qos) => broker.publish(topic, payload, qos));
  uplink.shadows = shadowService;
  const routes = new GatewayRoutes(gateways, (topic, payload) => {
    broker.publish(topic, payload, 0).catch(() => undefined);
  });
  routes.endDirect = (sub) => {
    broker.endSession(sub, 'kicked');
  };
  gateways.notices = routes;
  uplink.routes = routes;
  const wanted = { mqtt: 0, mqtts: 0, ws: 0, wss: 0, https: 0, ...options.ports };
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
      mqtt: (requestHost) => ({ host: (wildcard && requestHost) || host, port: mqttTlsPort }),
      faults,
      authRequests,
      apiGate: apiToken === undefined ? undefined : new ApiGate(apiToken),
      guard,
      log,
      stats,
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
  } catch (err) {
    guard.close();
    https.close();
    await broker.close();
    store?.close();
    throw err;
  }
  const ports: EmulatorPorts = { ...broker.ports(), https: (https.address() as AddressInfo).port };
  return {
    host,
    ports,
    ca: ca.cert,
    registry,
    platform,
    broker,
    gateways,
    shadows: shadowService,
    injectHttpFault: (fault) => faults.push(fault),
    authRequests,
    apiToken,
    statePath: store?.path,
    stats,
    async close() {
      guard.close();
      platform.close();
      https.close();
      https.closeAllConnections();
      await broker.close();
      store?.close();
    },
  };
}
