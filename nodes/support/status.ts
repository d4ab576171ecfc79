// Connection states as node status: yellow ring on the way, green dot connected, red ring otherwise.
import type { NodeAPI, NodeStatus } from 'node-red';
import type { ConnectionStatus } from '../lib/connection';
import { GATEWAY_OFFLINE } from '../lib/gateway/sub-device';
import { DEVICE_NAMESPACE } from './i18n';

const COMMON: Partial<Record<ConnectionStatus['state'], string>> = {
  connecting: 'node-red:common.status.connecting',
  connected: 'node-red:common.status.connected',
  disconnected: 'node-red:common.status.disconnected',
};

export function statusText(RED: NodeAPI, status: ConnectionStatus): string {
  // A sub-device is offline because its gateway is: say so rather than a bare "disconnected".
  const viaGateway = status.state === 'disconnected' && status.reason === GATEWAY_OFFLINE;
  const key = viaGateway
    ? `${DEVICE_NAMESPACE}:status.gateway-offline`
    : (COMMON[status.state] ?? `${DEVICE_NAMESPACE}:status.${status.state}`);
  const text = RED._(key, { code: String(status.code ?? '') });
  const label = text === key ? status.state : text;
  // A sub-device retrying after a refusal (429...) says why too.
  const coded = status.state === 'auth-failed' || status.state === 'disconnected' || status.state === 'reconnecting';
  if (!coded || status.code === undefined || label.includes(String(status.code))) return label;
  // The platform's codes for sub-devices (6287, 6401...) get a word on what to do.
  const hintKey = `${DEVICE_NAMESPACE}:status.platform-code.${String(status.code)}`;
  const hint = RED._(hintKey);
  return hint === hintKey ? `${label} (${String(status.code)})` : `${label} (${String(status.code)}: ${hint})`;
}

export function nodeStatusOf(RED: NodeAPI, status: ConnectionStatus): NodeStatus {
  const text = statusText(RED, status);
  switch (status.state) {
    case 'connected':
      return { fill: 'green', shape: 'dot', text };
    case 'connecting':
    case 'reconnecting':
      return { fill: 'yellow', shape: 'ring', text };
    case 'idle':
    case 'stopped':
      return { fill: 'grey', shape: 'ring', text };
    default:
      return { fill: 'red', shape: 'ring', text };
  }
}

export function problemStatus(text: string): NodeStatus {
  return { fill: 'red', shape: 'ring', text };
}
