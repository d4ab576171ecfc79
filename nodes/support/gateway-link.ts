// A sub-device's config node reaches its gateway's config node: the gateway's pooled connection
// carries it, and one gateway session per connection logs all its sub-devices in.
import type { NodeAPI } from 'node-red';
import type { DeviceChannel } from '../lib/connection';
import { GatewaySession } from '../lib/gateway/session';
import { SubDeviceConnection } from '../lib/gateway/sub-device';
import type { CredentialStore } from '../lib/login';
import type { DeviceOptions } from '../lib/options';
import type { DeviceConfigNode } from './device-link';
import { localize } from './i18n';

const sessions = new WeakMap<DeviceChannel, GatewaySession>();

/** The one session of a gateway's connection: made by its first sub-device or topology action. */
export function gatewaySessionOf(gateway: DeviceChannel): GatewaySession {
  let session = sessions.get(gateway);
  if (!session) sessions.set(gateway, (session = new GatewaySession(gateway)));
  return session;
}

/** The session if one exists already (a connect node listens to its notices without making one). */
export function existingGatewaySession(gateway: DeviceChannel): GatewaySession | undefined {
  return sessions.get(gateway);
}

export type SubDeviceLink =
  { ok: true; connection: SubDeviceConnection; gateway: DeviceConfigNode } | { ok: false; problem: string };

/**
 * The sub-device's connection over the gateway named by `options.gateway`. Node-RED creates a config
 * node after the config nodes it names, so the gateway's node exists here when it exists at all.
 */
export function linkSubDevice(
  RED: NodeAPI,
  selfId: string,
  options: DeviceOptions,
  store?: CredentialStore,
): SubDeviceLink {
  const name = options.gateway;
  if (name === selfId) return { ok: false, problem: localize(RED, 'GATEWAY_SELF') };
  const gateway = RED.nodes.getNode(name) as DeviceConfigNode | null;
  if (!gateway?.connection || !gateway.options) {
    return { ok: false, problem: localize(RED, 'GATEWAY_MISSING', { gateway: gateway?.name || name }) };
  }
  if (gateway.options.gateway) {
    return { ok: false, problem: localize(RED, 'GATEWAY_NESTED', { gateway: gateway.name || name }) };
  }
  const connection = new SubDeviceConnection(options, gateway.connection, gatewaySessionOf(gateway.connection), store);
  return { ok: true, connection, gateway };
}
