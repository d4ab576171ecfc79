// An embedded Node-RED runtime (the devDependency, no editor, no test-helper spies) that loads the
// built package from a user directory, next to Node-RED's own core nodes including `mqtt`.
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchBroker, BenchDevice } from './brokers';
import { signMqtt } from '../../nodes/lib/sign';
import * as nr from '../../scripts/node-red-process';

interface EmbeddedRed {
  init(server: unknown, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  nodes: { getNode(id: string): unknown };
  events: { once(event: string, listener: () => void): void };
  hooks: { add(name: string, hook: (event: CompleteEvent) => void): void; remove(name: string): void };
  runtime: { flows: { setFlows(opts: Record<string, unknown>): Promise<unknown> } };
}

/** What Node-RED's `onComplete` messaging hook is given when a node calls done(). */
interface CompleteEvent {
  msg: Record<string, unknown>;
  node: { id: string };
  error?: Error;
}

export interface InputNode {
  receive(msg: Record<string, unknown>): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

let red: EmbeddedRed | undefined;

/** `settings`: more of settings.js (the login pace, say) on top of the bench's own. */
export async function startRuntime(settings: Record<string, unknown> = {}): Promise<void> {
  if (red) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  red = require('node-red') as EmbeddedRed;
  const userDir = nr.linkedUserDir(nr.freshDir(mkdtempSync(join(tmpdir(), 'aliyun-iot-bench-'))));
  red.init(createServer(), {
    userDir,
    flowFile: 'flows.json',
    credentialSecret: 'bench',
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    nodesDir: join(__dirname, '..', 'nodes'),
    telemetry: { enabled: false },
    logging: { console: { level: 'error' } },
    ...settings,
  });
  // Deploying before the initial (empty) flows have loaded would lose the deployed credentials.
  const started = new Promise<void>((resolve) => red?.events.once('flows:started', resolve));
  await red.start();
  await started;
}

export async function stopRuntime(): Promise<void> {
  await red?.stop();
  red = undefined;
}

/** A full deploy; credentials ride on the nodes, as the editor sends them. */
export async function deploy(flows: Record<string, unknown>[]): Promise<void> {
  if (!red) throw new Error('runtime not started');
  await red.runtime.flows.setFlows({ flows: { flows }, deploymentType: 'full' });
}

/**
 * A full deploy, resolved once Node-RED has created every node: setFlows resolves earlier, before the
 * nodes exist (scenarios that wait for a broker-side sign after `deploy` never notice). Node-RED
 * waits without end for a node type it lacks: that fails here after `timeoutMs`.
 */
export async function deployStarted(flows: Record<string, unknown>[], timeoutMs = 60_000): Promise<void> {
  if (!red) throw new Error('runtime not started');
  const runtime = red;
  let timer: NodeJS.Timeout | undefined;
  const started = new Promise<void>((resolve, reject) => {
    runtime.events.once('flows:started', resolve);
    timer = setTimeout(
      () => reject(new Error('bench: flows not started (a node type missing? dist/ rebuilt meanwhile?)')),
      timeoutMs,
    );
  });
  try {
    await deploy(flows);
    await started;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `listener` whenever node `id` completes a message (its done() ran), through Node-RED's public
 * `onComplete` messaging hook; returns the function that removes it.
 */
export function onComplete(id: string, listener: (error?: Error) => void): () => void {
  if (!red) throw new Error('runtime not started');
  const runtime = red;
  const name = `onComplete.bench-${id}`;
  runtime.hooks.add(name, (event) => {
    if (event.node.id === id) listener(event.error);
  });
  return () => runtime.hooks.remove(name);
}

export function findNode<T = InputNode>(id: string): T | undefined {
  return (red?.nodes.getNode(id) ?? undefined) as T | undefined;
}

export function node<T = InputNode>(id: string): T {
  const found = findNode<T>(id);
  if (!found) throw new Error(`no node ${id}`);
  return found;
}

export type { BenchDevice } from './brokers';

export function benchDevice(name: string): BenchDevice {
  return { productKey: 'pkBench', deviceName: name, deviceSecret: `${name}-secret` };
}

/** Our config node, TCP to the emulator. */
export function ourDevice(
  id: string,
  emu: { host: string; ports: { mqtt: number } },
  device: BenchDevice,
): Record<string, unknown> {
  return {
    id,
    type: 'aliyun-iot-device',
    productKey: device.productKey,
    deviceName: device.deviceName,
    endpoint: 'custom',
    host: emu.host,
    port: String(emu.ports.mqtt),
    transport: 'tcp',
    keepalive: '300',
    queueSize: '100000',
    // Brokers here run without the platform's 30/s limit: measure the client, not the pace.
    rateLimit: '0',
    credentials: { deviceSecret: device.deviceSecret },
  };
}

/** Node-RED's core mqtt-broker config node, logging in with a password signed by hand. */
export function coreBroker(
  id: string,
  emu: Pick<BenchBroker, 'host' | 'ports'>,
  device: BenchDevice,
): Record<string, unknown> {
  const creds = signMqtt({ ...device, securemode: 3 });
  return {
    id,
    type: 'mqtt-broker',
    broker: emu.host,
    port: String(emu.ports.mqtt),
    clientid: creds.clientId,
    autoConnect: true,
    usetls: false,
    protocolVersion: '4',
    keepalive: '300',
    cleansession: true,
    credentials: { user: creds.username, password: creds.password },
  };
}

/**
 * Device `i`'s three nodes on one side: a config node with a publish node (`user/update`, at `qos`)
 * and a subscribe node (`user/get`), this package's (`ours`) or Node-RED's core mqtt nodes (`core`),
 * with ids `cfg<i>`, `pub<i>` and `sub<i>`.
 */
export function deviceNodes(
  side: 'core' | 'ours',
  i: number,
  broker: Pick<BenchBroker, 'host' | 'ports'>,
  device: BenchDevice,
  qos: 0 | 1,
): Record<string, unknown>[] {
  if (side === 'ours')
    return [
      ourDevice(`cfg${i}`, broker, device),
      { id: `pub${i}`, type: 'aliyun-iot-publish', device: `cfg${i}`, topic: 'user/update', qos: String(qos) },
      { id: `sub${i}`, type: 'aliyun-iot-subscribe', device: `cfg${i}`, topic: 'user/get' },
    ];
  const base = `/${device.productKey}/${device.deviceName}/user`;
  return [
    coreBroker(`cfg${i}`, broker, device),
    { id: `pub${i}`, type: 'mqtt out', broker: `cfg${i}`, topic: `${base}/update`, qos: String(qos), retain: 'false' },
    { id: `sub${i}`, type: 'mqtt in', broker: `cfg${i}`, topic: `${base}/get`, qos: '0', datatype: 'auto' },
  ];
}

export interface Probe {
  count: number;
  arrivals: Map<number, number>;
}

/** What the bench-probe nodes saw (they share one counter). */
export function probe(): Probe {
  const g = globalThis as unknown as { __benchProbe?: Probe };
  g.__benchProbe ??= { count: 0, arrivals: new Map() };
  return g.__benchProbe;
}

/** Feeds `count` messages into a node's input, yielding between batches as upstream nodes would. */
export async function feed(id: string, count: number, message: (i: number) => Record<string, unknown>): Promise<void> {
  const target = node(id);
  for (let i = 0; i < count; i++) {
    target.receive(message(i));
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
}
