// Whether a device's login needs `ext=1` (PLATFORM.md §16.2): the platform sends custom-topic RRPC
// only to a device that asked for it in its ClientId, and a config node learns that from the flows
// it is deployed with, since the command node that answers it starts after the connection.
import type { NodeAPI } from 'node-red';

/**
 * The config nodes that some custom-RRPC command node uses, read from the flows once per deploy:
 * reading them for every config node made a deploy of N devices cost N x N (84 s for 10,000).
 * Node-RED creates a deploy's nodes without yielding to the event loop, so the answer holds until
 * the next macrotask, and a later deploy reads the flows afresh.
 */
let wanting: Set<string> | undefined;

function configsWantingExt(RED: NodeAPI): Set<string> {
  if (wanting) return wanting;
  const found = new Set<string>();
  RED.nodes.eachNode((n) => {
    const def = n as { type?: unknown; device?: unknown; rrpcTopic?: unknown; d?: unknown };
    // A disabled node (d: true) is not deployed.
    if (def.type !== 'aliyun-iot-command' || typeof def.device !== 'string' || def.d === true) return;
    if (typeof def.rrpcTopic === 'string' && def.rrpcTopic.trim() !== '') found.add(def.device);
  });
  wanting = found;
  setImmediate(() => {
    wanting = undefined;
  });
  return found;
}

export function wantsExtRrpc(RED: NodeAPI, configId: string): boolean {
  return configsWantingExt(RED).has(configId);
}
