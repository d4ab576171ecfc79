// Flows for node-red-node-test-helper against an in-process emulator.
import type { EventEmitter } from 'node:events';
import type { NodeMessage } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { Emulator } from '../../emulator/index';
import deviceNode from '../../nodes/aliyun-iot-device';
import productNode from '../../nodes/aliyun-iot-product';
import connectNode from '../../nodes/aliyun-iot-connect';
import publishNode from '../../nodes/aliyun-iot-publish';
import subscribeNode from '../../nodes/aliyun-iot-subscribe';
import authNode from '../../nodes/aliyun-iot-auth';
import propertyNode from '../../nodes/aliyun-iot-property';
import eventNode from '../../nodes/aliyun-iot-event';
import commandNode from '../../nodes/aliyun-iot-command';
import replyNode from '../../nodes/aliyun-iot-reply';
import timeNode from '../../nodes/aliyun-iot-time';
import shadowNode from '../../nodes/aliyun-iot-shadow';
import otaNode from '../../nodes/aliyun-iot-ota';
import configNode from '../../nodes/aliyun-iot-config';
import tagsNode from '../../nodes/aliyun-iot-tags';
import accountNode from '../../nodes/aliyun-iot-account';
import cloudApiNode from '../../nodes/aliyun-iot-cloud-api';
import amqpInNode from '../../nodes/aliyun-iot-amqp-in';
import { DEFAULT_BACKOFF } from '../../nodes/lib/backoff';
import { sharedPool } from '../../nodes/lib/pool';
import { after, afterEach, before } from 'node:test';
import type { EmulatorOptions } from '../../emulator/index';
import { eventually, start } from './emulator';
import { onComplete, rememberCredentialsOnLoad, stopFlowsKeepingContext, unloadFlows } from './red-internals';
import { leakedSecrets, rememberCredentials } from './secrets';

export { helper };
export const NODES = [
  // The product before the devices that name it: Node-RED creates config nodes in that order anyway.
  productNode,
  deviceNode,
  connectNode,
  publishNode,
  subscribeNode,
  authNode,
  propertyNode,
  eventNode,
  commandNode,
  replyNode,
  timeNode,
  shadowNode,
  otaNode,
  configNode,
  tagsNode,
  // The account before the cloud nodes that name it.
  accountNode,
  cloudApiNode,
  amqpInNode,
];

helper.init(require.resolve('node-red'));

// Every load and deploy remembers its credentials, so that suites can check none of them leaks.
rememberCredentialsOnLoad(rememberCredentials);

/** Fast retries and a short handover grace, so tests do not wait minutes. */
export function fastPool(): void {
  sharedPool.configure({
    graceMs: 300,
    tuning: {
      // Refused logins keep the shipped policy: tests assert its bound.
      backoff: { ...DEFAULT_BACKOFF, baseMs: 100, maxMs: 400, jitter: 0 },
      stableSessionMs: 1500,
      unsubscribeGraceMs: 300,
      connectTimeoutMs: 5000,
    },
  });
}

export interface TestDevice {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
}

const PORT_OF = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' } as const;

/** A config node pointed at the emulator. */
export function deviceConfig(
  emu: Emulator,
  device: TestDevice,
  extra: Record<string, unknown> & { transport?: keyof typeof PORT_OF } = {},
): Record<string, unknown> {
  const transport = extra.transport ?? 'tcp';
  return {
    id: 'dev',
    type: 'aliyun-iot-device',
    name: 'test device',
    productKey: device.productKey,
    deviceName: device.deviceName,
    endpoint: 'custom',
    host: emu.host,
    port: String(emu.ports[PORT_OF[transport]]),
    ca: emu.ca,
    keepalive: '60',
    ...extra,
    transport,
  };
}

export function credentialsFor(device: TestDevice, id = 'dev'): Record<string, Record<string, string>> {
  return { [id]: { deviceSecret: device.deviceSecret } };
}

/** Collects what a helper node receives. */
export function collect(id: string): NodeMessage[] {
  const node = helper.getNode(id);
  if (!node) throw new Error(`no node ${id}`);
  const got: NodeMessage[] = [];
  node.on('input', (msg: NodeMessage) => got.push(msg));
  return got;
}

type Completion = { msg: NodeMessage; err: Error | undefined };
type Tracked = EventEmitter & {
  receive(msg: NodeMessage): void;
  completions?: Completion[];
};

/** Records every done() of a node. */
export function completions(id: string): Completion[] {
  const node = helper.getNode(id) as unknown as Tracked | null;
  if (!node) throw new Error(`no node ${id}`);
  if (!node.completions) {
    // Every inject() in flight listens for its own done.
    node.setMaxListeners(0);
    const list: Completion[] = [];
    onComplete(node, (msg, err) => {
      list.push({ msg, err });
      node.emit('test:done', msg, err);
    });
    node.completions = list;
  }
  return node.completions;
}

/** Sends a message into a node and resolves with the error its done() got (undefined: success). */
export function inject(
  id: string,
  msg: NodeMessage,
  timeoutMs = 10_000,
): Promise<(Error & { code?: string }) | undefined> {
  completions(id);
  const node = helper.getNode(id) as unknown as Tracked;
  const mark = `m${Math.random()}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      node.off('test:done', onDone);
      reject(new Error(`${id}: done() not called within ${timeoutMs} ms`));
    }, timeoutMs);
    const onDone = (done: NodeMessage, err: Error | undefined) => {
      if (done._testMark !== mark) return;
      clearTimeout(timer);
      node.off('test:done', onDone);
      resolve(err);
    };
    node.on('test:done', onDone);
    node.receive({ ...msg, _testMark: mark });
  });
}

export async function connected(emu: Emulator, device: TestDevice): Promise<void> {
  await eventually(
    () => emu.registry.device(device.productKey, device.deviceName)?.online === true,
    8000,
    'device online',
  );
}

/**
 * The hooks of any node suite, registered in the calling `describe`: fast retries and the helper's
 * server; after each test the secret scan (before the spies go), the flows unloaded, the pool empty,
 * then `cleanUp` (a suite's own emulator, proxy or files).
 */
export function nodeRedHooks(
  emulatorOf: () => Emulator | undefined,
  cleanUp: () => Promise<void> = async () => {},
): void {
  before(async () => {
    fastPool();
    await helper.startServer();
  });
  afterEach(async () => {
    const leaked = leakedSecrets(emulatorOf());
    await unloadFlows();
    await eventually(() => sharedPool.size === 0, 5000, 'pool empty');
    await cleanUp();
    if (leaked.length > 0) throw new Error(`secrets visible in logs, statuses, errors or flows: ${leaked.length}`);
  });
  after(async () => {
    await helper.stopServer();
  });
}

/** What a node logged through node.warn or node.error (the helper spies on every node). */
export function logged(id: string, kind: 'warn' | 'error'): string[] {
  const node = helper.getNode(id) as unknown as Record<'warn' | 'error', { args: unknown[][] }>;
  return node[kind].args.map((a) => String(a[0]));
}

/**
 * The hooks every node suite needs, registered in the calling `describe`: fast retries, one emulator
 * for the suite, the helper's server, and after each test the flows unloaded and the pool empty.
 */
export function nodeRedSuite(options: EmulatorOptions): () => Emulator {
  let emu: Emulator | undefined;
  before(async () => {
    emu = await start(options);
  });
  nodeRedHooks(() => emu);
  after(async () => {
    await emu?.close();
  });
  return () => {
    if (!emu) throw new Error('the suite has not started');
    return emu;
  };
}

/**
 * Stops the flows as a Node-RED restart does: helper.unload() minus its context clean (which would
 * delete what a restart keeps), then waits for the device connections to log out.
 */
export async function stopLikeRestart(): Promise<void> {
  await stopFlowsKeepingContext();
  await eventually(() => sharedPool.size === 0, 10_000, 'old connection retired');
  await sharedPool.idle();
}

/**
 * The filters a device's flow nodes subscribed: its connection's own lifecycle notices
 * (`thing/disable|enable|delete`, in every first SUBSCRIBE) left out.
 */
export function flowSubscriptions(record: { subscriptions: { keys(): Iterable<string> } }): number {
  return [...record.subscriptions.keys()].filter((f) => !/\/thing\/(disable|enable|delete)$/.test(f)).length;
}
