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

/**
 * Status texts by runtime, state and code: 10,000 devices each turning `connected` translated
 * the same words 20,000 times over (a tenth of the CPU of their deploy). Bounded: the codes a
 * platform refusal can carry are few, but not a fixed list.
 */
const texts = new WeakMap<NodeAPI, Map<string, NodeStatus>>();
const MAX_CACHED = 256;

export function nodeStatusOf(RED: NodeAPI, status: ConnectionStatus): NodeStatus {
  let cache = texts.get(RED);
  if (!cache) texts.set(RED, (cache = new Map<string, NodeStatus>()));
  const key = `${status.state}|${String(status.code ?? '')}|${status.reason === GATEWAY_OFFLINE ? 'gw' : ''}`;
  let made = cache.get(key);
  if (!made) {
    if (cache.size >= MAX_CACHED) cache.clear();
    made = describe(RED, status);
    cache.set(key, made);
  }
  // A copy: whatever Node-RED does with a status object stays out of the cache.
  return { ...made };
}

function describe(RED: NodeAPI, status: ConnectionStatus): NodeStatus {
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
