// One consumer of the AMQP scenario in a process of its own, so its CPU time and memory are its own:
// `bare`, a rhea receiver written like the platform's Node sample (TLS, SASL PLAIN, `open_receiver`
// with no address, rhea's auto-accept), or `node`, one aliyun-iot-amqp-in node in an embedded
// Node-RED (bench/lib/runtime.ts) wired to a trivial flow. The parent publishes and times; this
// process only consumes, and on the parent's command reports its CPU time and memory.
// Argument: the JSON of an AmqpChildOptions.
import { readFileSync } from 'node:fs';
import type { Container, EventContext, Message } from 'rhea';
import { amqpLogin } from '../../nodes/lib/cloud/amqp-auth';
import { deployStarted, startRuntime, stopRuntime } from '../lib/runtime';
import { settledMemory } from './memory';

export interface AmqpChildOptions {
  mode: 'bare' | 'node';
  host: string;
  port: number;
  /** The emulator's API (HTTPS) port: the account node wants an API URL, unused here. */
  httpsPort: number;
  caFile: string;
  groupId: string;
  clientId: string;
  accessKeyId: string;
  accessKeySecret: string;
  creditWindow: number;
}

export type AmqpChildCommand = { type: 'mark'; settle: boolean } | { type: 'stop' };
export interface AmqpChildMemory {
  rss: number;
  heapUsed: number;
}
export type AmqpChildReply =
  /** Connecting (the parent sees the link attach); `before`: settled memory before it started to. */
  | { type: 'up'; before: AmqpChildMemory }
  /**
   * process.cpuUsage() user + system, µs since the process started; memory now (settled on request)
   * and the highest RSS seen since it connected (sampled every 10 ms).
   */
  | ({ type: 'mark'; cpuUs: number; peakRss: number } & AmqpChildMemory);

const options = JSON.parse(process.argv[2] ?? '{}') as AmqpChildOptions;
const ca = readFileSync(options.caFile, 'utf8');

function tell(reply: AmqpChildReply): void {
  process.send?.(reply);
}

/** What the bare receiver's handler read, so that the reading is not optimised away. */
const sink = { seen: 0, bytes: 0 };

/** The platform's Node sample, with the credit window the node has by default. */
function bare(): () => Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rhea = require('rhea') as { create_container(options?: { id?: string }): Container };
  const container = rhea.create_container({ id: options.clientId });
  const login = amqpLogin({
    clientId: options.clientId,
    accessKeyId: options.accessKeyId,
    accessKeySecret: options.accessKeySecret,
    consumerGroupId: options.groupId,
    timestampMs: Date.now(),
  });
  const connection = container.connect({
    host: options.host,
    port: options.port,
    transport: 'tls',
    ca,
    reconnect: false,
    idle_time_out: 60_000,
    username: login.username,
    password: login.password,
  });
  // rhea's own default window is 1,000; the sample leaves it so. The node's default, 100, here:
  // both sides then have as many messages in flight. Auto-accept (rhea's default) on.
  const receiver = connection.open_receiver({ credit_window: options.creditWindow });
  receiver.on('message', (ctx: EventContext) => {
    // What the sample reads: the messageId, the topic and the content as text.
    const message = ctx.message as Message;
    const props = message.application_properties as { topic?: unknown } | undefined;
    const content = Buffer.from((message.body as { content: Uint8Array }).content).toString();
    sink.seen += 1;
    sink.bytes += content.length + String(props?.topic).length + String(message.message_id).length;
  });
  connection.on('error', () => undefined);
  return () =>
    new Promise<void>((resolve) => {
      connection.once('connection_close', () => resolve());
      connection.once('disconnected', () => resolve());
      connection.close();
    });
}

/** One amqp-in node, its messages into a change node wired to nothing; settled as the change node completes. */
async function node(): Promise<() => Promise<void>> {
  await deployStarted([
    {
      id: 'acct',
      type: 'aliyun-iot-account',
      apiUrl: `https://${options.host}:${options.httpsPort}/`,
      amqpHost: options.host,
      amqpPort: String(options.port),
      ca,
      credentials: { accessKeyId: options.accessKeyId, accessKeySecret: options.accessKeySecret },
    },
    {
      id: 'in',
      type: 'aliyun-iot-amqp-in',
      account: 'acct',
      consumerGroupId: options.groupId,
      clientId: options.clientId,
      connections: '1',
      creditWindow: String(options.creditWindow),
      wires: [['flow'], []],
    },
    {
      id: 'flow',
      type: 'change',
      rules: [{ t: 'set', p: 'handled', pt: 'msg', to: 'true', tot: 'bool' }],
      wires: [],
    },
  ]);
  return async () => {
    await deployStarted([]);
    await stopRuntime();
  };
}

// The parent gone, nobody reads the results.
process.on('disconnect', () => process.exit(1));

void (async () => {
  // rhea loaded in both modes before anything is measured (the node loads it on first use).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('rhea');
  if (options.mode === 'node') await startRuntime();
  const { rss, heapUsed } = settledMemory();
  let peakRss = rss;
  setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 25).unref();
  const stop = options.mode === 'bare' ? bare() : await node();
  process.on('message', (command: AmqpChildCommand) => {
    if (command.type === 'mark') {
      const { user, system } = process.cpuUsage();
      const memory = command.settle ? settledMemory() : process.memoryUsage();
      tell({ type: 'mark', cpuUs: user + system, rss: memory.rss, heapUsed: memory.heapUsed, peakRss });
      return;
    }
    void stop().finally(() => process.exit(0));
  });
  tell({ type: 'up', before: { rss, heapUsed } });
})().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
