// A local IoT Platform: MQTT over TCP/TLS/WS/WSS, HTTPS auth and registration, and a cloud API.
// `require('@iotflow/node-red-aliyun-iot/emulator')`; aedes and the certificate code load only here.
import type { AddressInfo } from 'node:net';
import { EmulatorBroker } from './broker';
import { createCertificateAuthority, issueServerCertificate, type CertificateAuthority } from './certs';
import { createHttpsServer, type AuthRequest, type HttpFault } from './http';
import { Platform } from './platform';
import { Registry, type DeviceSpec, type ProductSpec } from './registry';

export type { DeviceSpec, ProductSpec, DeviceRecord, DeviceCounters, UplinkMessage } from './registry';
export type { CertificateAuthority } from './certs';
export type { AuthRequest, HttpFault } from './http';
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
  /** Makes the next matching HTTPS device call fail this way (500, a non-JSON body, no answer). */
  injectHttpFault(fault: HttpFault): void;
  /** HTTPS device calls received, newest last. */
  authRequests: readonly AuthRequest[];
  close(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1';
  const ca = options.ca ?? createCertificateAuthority();
  const tls = issueServerCertificate(ca, [...new Set([host, 'localhost', '127.0.0.1', '::1'])]);
  const registry = new Registry(options.devices, options.products, options.tokenLifetimeMs);
  // The broker reports uplink to the platform, which publishes its replies through the broker.
  const uplink: { platform?: Platform } = {};
  const broker = await EmulatorBroker.create({
    registry,
    rateLimit: options.rateLimit ?? 30,
    onUplink: (device, topic, payload) => uplink.platform?.onUplink(device, topic, payload),
  });
  const platform = new Platform(broker);
  uplink.platform = platform;
  const wanted = { mqtt: 0, mqtts: 0, ws: 0, wss: 0, https: 0, ...options.ports };
  let mqttTlsPort = 0;
  const faults: HttpFault[] = [];
  const authRequests: AuthRequest[] = [];
  const https = createHttpsServer(
    { registry, platform, broker, mqtt: () => ({ host, port: mqttTlsPort }), faults, authRequests },
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
    https.close();
    await broker.close();
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
    injectHttpFault: (fault) => faults.push(fault),
    authRequests,
    async close() {
      platform.close();
      https.close();
      https.closeAllConnections();
      await broker.close();
    },
  };
}
