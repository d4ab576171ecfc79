// Where a device connects: from endpoint kind and transport to the broker's address, securemode
// and the CAs to trust (PLATFORM.md §2).
import { domainToASCII } from 'node:url';
import { defaultCAs, splitPem } from './ca';
import { DEFAULT_PORTS, FIELDS, type EndpointKind, type Transport } from './fields';
import { isEndpointKind, isTransport } from './rules';

export { isEndpointKind, isTransport, isRegion } from './rules';
export { DEFAULT_PORTS, ENDPOINT_KINDS, TRANSPORTS, REGIONS } from './fields';
export type { EndpointKind, Transport, RegionId } from './fields';

const PROTOCOL: Readonly<Record<Transport, 'mqtt' | 'mqtts' | 'ws' | 'wss'>> = {
  tcp: 'mqtt',
  tls: 'mqtts',
  ws: 'ws',
  wss: 'wss',
};

export const WEBSOCKET_PATH = '/mqtt';

export interface EndpointInput {
  endpoint: EndpointKind;
  transport: Transport;
  /** Needed by `public`: the legacy host starts with the productKey. */
  productKey?: string;
  regionId?: string;
  instanceId?: string;
  host?: string;
  /** Blank or absent: the transport's default. */
  port?: number | string;
  /** The user's PEM: trusted instead of the bundled roots and Node's own. */
  ca?: string;
}

/**
 * Where mqtt.js connects, as fields. No URL is built for a login and none is parsed: a URL parser
 * would refuse some host names a user may type, or rewrite them.
 */
export interface BrokerAddress {
  readonly protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  /** As configured or as the platform sent it: a name, an IPv4 address or an IPv6 one. */
  readonly host: string;
  readonly port: number;
  /** WebSockets only. */
  readonly path?: string;
}

export interface ResolvedEndpoint extends BrokerAddress {
  transport: Transport;
  /** For status and logs only, e.g. `mqtts://host:8883` or `wss://host:443/mqtt`. */
  url: string;
  /** 2 for TLS and WSS, 3 for TCP and WS. */
  securemode: 2 | 3;
  secure: boolean;
  /** CAs to trust; only for secure transports. */
  ca?: readonly string[];
}

export function mqttHost(
  input: Pick<EndpointInput, 'endpoint' | 'productKey' | 'regionId' | 'instanceId' | 'host'>,
): string {
  switch (input.endpoint) {
    case 'public':
      return `${input.productKey ?? ''}.iot-as-mqtt.${input.regionId ?? FIELDS.regionId.default}.aliyuncs.com`;
    case 'instance':
      return `${input.instanceId ?? ''}.mqtt.iothub.aliyuncs.com`;
    case 'custom':
      return (input.host ?? '').trim();
  }
}

/** A host as it appears in a URL: IPv6 addresses in brackets. */
export function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * A host as sockets and TLS want it: an IPv6 address without brackets, a name in ASCII (an
 * internationalized one as punycode, which is what DNS holds), lower case.
 */
export function socketHost(host: string): string {
  if (host.includes(':')) return host.replace(/^\[(.*)\]$/, '$1');
  return domainToASCII(host) || host;
}

export function resolveEndpoint(input: EndpointInput): ResolvedEndpoint {
  if (!isEndpointKind(input.endpoint)) throw new TypeError(`Unknown endpoint kind: ${String(input.endpoint)}`);
  if (!isTransport(input.transport)) throw new TypeError(`Unknown transport: ${String(input.transport)}`);
  const { transport } = input;
  const host = mqttHost(input);
  const port = input.port === undefined || input.port === '' ? DEFAULT_PORTS[transport] : Number(input.port);
  const protocol = PROTOCOL[transport];
  const secure = transport === 'tls' || transport === 'wss';
  const path = transport === 'ws' || transport === 'wss' ? WEBSOCKET_PATH : '';
  const userCa = input.ca?.trim() ? splitPem(input.ca) : [];
  const resolved: ResolvedEndpoint = {
    host,
    port,
    transport,
    protocol,
    path: path || undefined,
    url: `${protocol}://${formatHost(host)}:${port}${path}`,
    securemode: secure ? 2 : 3,
    secure,
  };
  if (secure) resolved.ca = userCa.length > 0 ? Object.freeze(userCa) : defaultCAs();
  return Object.freeze(resolved);
}

export const HTTPS_PORT = 443;

/** Where the HTTPS device auth and registration calls go (PLATFORM.md §2). */
export function authHostOf(input: Pick<EndpointInput, 'endpoint' | 'regionId' | 'host'> & { authHost?: string }): {
  host: string;
  port: number;
} {
  const given = input.authHost?.trim();
  if (given) {
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(given);
    const host = (match?.[1] ?? given).replace(/^\[|\]$/g, '');
    return { host, port: match?.[2] ? Number(match[2]) : HTTPS_PORT };
  }
  if (input.endpoint === 'public')
    return { host: `iot-auth.${input.regionId ?? FIELDS.regionId.default}.aliyuncs.com`, port: HTTPS_PORT };
  // Custom hosts (proxies, the emulator) answer HTTPS on the same name; instances need authHost.
  return { host: (input.host ?? '').trim(), port: HTTPS_PORT };
}
