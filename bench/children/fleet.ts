// One side of the gateway scenario in an embedded Node-RED in a process of its own, so its memory is
// its own: N sub-devices through one gateway (`sub`) or N direct devices (`direct`), each with a
// publish and a subscribe node. It reports when all are online, then injects messages on the parent's
// command (over IPC) while the parent counts what the broker receives.
// Arguments: host port count sub|direct|direct-tls [tls-port ca-file].
import { readFileSync } from 'node:fs';
import type { FleetCommand, FleetMode, FleetReply } from '../lib/fleet';
import { FLEET_MODES, fleetDevice, GATEWAY, WARM_GATEWAY } from '../lib/fleet';
import { deployStarted, findNode, node, ourDevice, startRuntime, stopRuntime, type InputNode } from '../lib/runtime';
import { sleep } from '../lib/stats';
import { settledMemory } from './memory';

interface Status {
  state: string;
}
interface Connection extends Status {
  on(event: 'state', listener: (s: Status) => void): void;
  off(event: 'state', listener: (s: Status) => void): void;
}
type Key = number | 'warm';

const [host = '127.0.0.1', port = '1883', countArg = '10', modeArg = 'direct', tlsPort = '', caFile = ''] =
  process.argv.slice(2);
const count = Number(countArg);
const mode: FleetMode = FLEET_MODES.find((m) => m === modeArg) ?? 'direct';
const payload = JSON.stringify({ temperature: 21.5, humidity: 40, ts: 1700000000000 });
const SETBACKS = new Set(['auth-failed', 'kicked', 'reconnecting']);

function tell(reply: FleetReply): void {
  process.send?.(reply);
}

/** The side's devices `keys` (config `cfg<key>`, publish `pub<key>`, subscribe `sub<key>`). */
function flow(keys: Key[]): Record<string, unknown>[] {
  const broker = { host, ports: { mqtt: Number(port) } };
  const nodes: Record<string, unknown>[] = [];
  // The gateway has no flow node of its own: its sub-devices' config nodes use it.
  const gateway = keys[0] === 'warm' ? WARM_GATEWAY : GATEWAY;
  if (mode === 'sub') nodes.push({ ...ourDevice('gw', broker, gateway), gatewayRateLimit: '0' });
  for (const key of keys) {
    const device = fleetDevice(mode, key);
    const config =
      mode === 'sub'
        ? {
            id: `cfg${key}`,
            type: 'aliyun-iot-device',
            productKey: device.productKey,
            deviceName: device.deviceName,
            gateway: 'gw',
            // As the direct devices have it (ourDevice): unpaced, the same queue.
            queueSize: '100000',
            rateLimit: '0',
            credentials: { deviceSecret: device.deviceSecret },
          }
        : mode === 'direct-tls'
          ? {
              ...ourDevice(`cfg${key}`, broker, device),
              transport: 'tls',
              port: tlsPort,
              ca: readFileSync(caFile, 'utf8'),
            }
          : ourDevice(`cfg${key}`, broker, device);
    nodes.push(
      config,
      { id: `pub${key}`, type: 'aliyun-iot-publish', device: `cfg${key}`, topic: 'user/update' },
      { id: `sub${key}`, type: 'aliyun-iot-subscribe', device: `cfg${key}`, topic: 'user/get' },
    );
  }
  return nodes;
}

function connectionsOf(keys: Key[]): Connection[] {
  return keys.map((key) => {
    const config = findNode<{ connection?: Connection; problem?: string }>(`cfg${key}`);
    if (!config?.connection) throw new Error(`cfg${key} has no connection: ${config?.problem ?? 'no node'}`);
    return config.connection;
  });
}

/** Resolves once every connection is `connected` at the same time, from their state events. */
function allOnline(connections: Connection[], timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const up = connections.map((c) => c.state === 'connected');
    let online = up.filter(Boolean).length;
    let setbacks = 0;
    const listeners = connections.map((c, i) => (s: Status) => {
      if (SETBACKS.has(s.state)) setbacks++;
      const now = s.state === 'connected';
      if (now === up[i]) return;
      up[i] = now;
      online += now ? 1 : -1;
      if (online === connections.length) finish();
    });
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`bench: ${online} of ${connections.length} online after ${timeoutMs} ms`));
    }, timeoutMs);
    function finish(): void {
      clearTimeout(timer);
      connections.forEach((c, i) => c.off('state', listeners[i]!));
      resolve(setbacks);
    }
    connections.forEach((c, i) => c.on('state', listeners[i]!));
    if (online === connections.length) finish();
  });
}

/**
 * One device of this side online and gone again before the measurement: what only the first one
 * costs (the modules mqtt.js loads on its first connection, mqtt-packet's table of 65,536 message-id
 * buffers made on its first packet, compiled code) would otherwise count as every device's.
 */
async function warmUp(): Promise<void> {
  await deployStarted(flow(['warm']));
  await allOnline(connectionsOf(['warm']), 60_000);
  await deployStarted([]);
  // The logout's packets out and the socket closed.
  await sleep(500);
}

// The parent gone, nobody reads the results.
process.on('disconnect', () => process.exit(1));

void (async () => {
  await startRuntime();
  await warmUp();
  const keys = Array.from({ length: count }, (_, i) => i);
  const nodes = flow(keys);
  const before = settledMemory();
  const t0 = performance.now();
  await deployStarted(nodes);
  // The gateway logs its sub-devices in at 200 a second at most: allow for that beyond two minutes.
  const setbacks = await allOnline(connectionsOf(keys), 120_000 + count * 10);
  const connectMs = performance.now() - t0;
  const after = settledMemory();
  tell({
    type: 'online',
    devices: count,
    connectMs,
    rssPerDevice: (after.rss - before.rss) / count,
    heapPerDevice: (after.heapUsed - before.heapUsed) / count,
    setbacks,
  });

  const publishers: InputNode[] = keys.map((i) => node(`pub${i}`));
  process.on('message', (command: FleetCommand) => {
    if (command.type === 'send') {
      // All at once without yielding, as a flow's upstream node hands them over; device by device
      // in turn, so every device has messages in flight together.
      const start = performance.now();
      for (let m = 0; m < command.perDevice; m++) for (const p of publishers) p.receive({ payload });
      tell({ type: 'sent', injectMs: performance.now() - start });
      return;
    }
    void deployStarted([])
      .then(stopRuntime)
      .finally(() => process.exit(0));
  });
})().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
