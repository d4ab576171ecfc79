// A gateway's topology actions from its connect node (`topology`, `topo-add`, `topo-delete`,
// `found`), and the cloud's topology notices passed on as messages.
import type { NodeAPI, NodeMessage } from 'node-red';
import type { DeviceChannel } from '../lib/connection';
import type { GatewayNotice } from '../lib/gateway/session';
import { subDeviceList } from '../lib/gateway/topology';
import { gatewaySessionOf, existingGatewaySession } from './gateway-link';
import { codedError } from './i18n';

export const GATEWAY_ACTIONS = ['topology', 'topo-add', 'topo-delete', 'found'] as const;
export type GatewayAction = (typeof GATEWAY_ACTIONS)[number];

export const isGatewayAction = (action: unknown): action is GatewayAction =>
  (GATEWAY_ACTIONS as readonly unknown[]).includes(action);

/**
 * Runs one action; resolves with the message to send (its payload the devices the platform lists;
 * the secrets given for `topo-add` never leave), rejects with a coded error.
 */
export function runGatewayAction(
  RED: NodeAPI,
  gateway: DeviceChannel,
  action: GatewayAction,
  msg: NodeMessage,
): Promise<NodeMessage> {
  // A sub-device has no topology of its own: the platform has no gateways behind gateways.
  if (gateway.options.gateway) {
    const allowed = 'connect, disconnect, reconnect, status, login, logout';
    return Promise.reject(codedError(RED, 'ACTION_INVALID', { action, allowed }));
  }
  const session = gatewaySessionOf(gateway);
  const out = (payload: unknown): NodeMessage => ({ ...msg, topic: action, payload });
  if (action === 'topology') return session.topology().then(out);
  const list = subDeviceList(msg.payload, action === 'topo-add');
  if (!list.ok) return Promise.reject(codedError(RED, list.problem.code, list.problem.params));
  if (action === 'topo-add') return session.addTopology(list.devices).then(out);
  const refs = list.devices.map(({ productKey, deviceName }) => ({ productKey, deviceName }));
  if (action === 'topo-delete') return session.deleteTopology(refs).then(out);
  return session.reportFound(refs).then(() => out(refs));
}

/**
 * Passes the cloud's topology notices on as `{topic: 'topo-change' | 'topo-add-notify', payload}`,
 * when the device has a gateway session (sub-devices, or an earlier action); returns the removal,
 * or undefined when there is no session yet.
 */
export function forwardNotices(gateway: DeviceChannel, send: (msg: NodeMessage) => void): (() => void) | undefined {
  const session = existingGatewaySession(gateway);
  if (!session) return undefined;
  const listener = (kind: GatewayNotice, params: unknown): void => send({ topic: kind, payload: params });
  session.on('notice', listener);
  return () => session.off('notice', listener);
}
