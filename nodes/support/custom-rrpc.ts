// Whether a device's login needs `ext=1` (PLATFORM.md §16.2): the platform sends custom-topic RRPC
// only to a device that asked for it in its ClientId, and a config node learns that from the flows
// it is deployed with, since the command node that answers it starts after the connection.
import type { NodeAPI } from 'node-red';

export function wantsExtRrpc(RED: NodeAPI, configId: string): boolean {
  let wanted = false;
  RED.nodes.eachNode((n) => {
    const def = n as { type?: unknown; device?: unknown; rrpcTopic?: unknown; d?: unknown };
    // A disabled node (d: true) is not deployed.
    if (def.type !== 'aliyun-iot-command' || def.device !== configId || def.d === true) return;
    if (typeof def.rrpcTopic === 'string' && def.rrpcTopic.trim() !== '') wanted = true;
  });
  return wanted;
}
