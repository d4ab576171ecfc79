// 7. The AMQP server-side subscription (issue 18): messages/s from the emulator's AMQP server to
// (a) a bare rhea receiver written like the platform's Node sample, auto-accept (the baseline);
// (b) one aliyun-iot-amqp-in node in an embedded Node-RED, wired to a trivial flow (a change node
//     wired to nothing), each message settled when the flow has finished with it;
// (c) two amqp-in nodes in one consumer group, each in a Node-RED of its own (two processes: two
//     instances sharing a group, as users run them), and two bare receivers beside them.
// Every consumer is a child process (children/amqp.ts) with the same credit window (the node's
// default, 100); the emulator, in this process, stands for the platform. A round: with every
// consumer attached and idle, all N messages go to `emu.amqp.publish` in one synchronous loop (the
// group queues what the credit does not let out at once: the same as messages pre-queued before
// the consumers attach, with the clock started cleanly), timed until the group's `accepted` counter
// has them all. Each side has its own consumer group and product, so nothing it publishes waits in
// another side's queue; every side's consumers stay attached throughout and the rounds take turns
// (see amqpThroughput). Besides messages/s: the consumers' CPU time per message (what the stream
// costs the consumer, whatever the pipeline's pace); the emulator process's CPU share (near 100 %:
// the server sets the pace; near one core together with the consumer's share, msg/s x CPU per msg:
// the two take turns, and each message costs the sum of both); and each consumer process's memory,
// its highest RSS while it ran and its settled RSS and heap after the last round, each against its
// settled memory before it connected. `BENCH_CPU_PROF=<dir>` writes the consumers' CPU profiles.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type DataFlowMessage, type Emulator } from '../../emulator/index';
import { DEFAULT_CREDIT } from '../../nodes/lib/cloud/amqp-consumer';
import type { AmqpChildCommand, AmqpChildMemory, AmqpChildOptions, AmqpChildReply } from '../children/amqp';
import { figure, sleep, type Figure } from '../lib/stats';

export type AmqpConsumerKind = 'bare' | 'node';

export interface AmqpSide {
  consumer: AmqpConsumerKind;
  /** Consumer processes, one connection each, in one consumer group. */
  processes: number;
  /** Messages per second from the first publish until the group had every message accepted. */
  throughput: Figure;
  /** CPU time (user + system) of the consumer processes together, per message, µs. */
  consumerCpuUs: Figure;
  /** The emulator's process (this one) busy over a round, as a share of one core. */
  serverCpu: Figure;
  /** Per consumer process (the mean): the highest RSS while it ran minus its settled RSS before it connected. */
  rssPeakDelta: number;
  /** Per consumer process, settled after the last round minus settled before it connected. */
  rssDelta: number;
  heapDelta: number;
  /** Deliveries the emulator pushed again (an ACK timeout, a closed link): 0 in a clean run. */
  redelivered: number;
}

export interface AmqpResult {
  messages: number;
  creditWindow: number;
  /** What the amqp-in node is wired to. */
  flow: string;
  bare: AmqpSide;
  node: AmqpSide;
  bareTwo: AmqpSide;
  nodeTwo: AmqpSide;
  /** (b)/(a): one amqp-in node against one bare receiver, messages/s. */
  nodeRatio: number;
  /** (c)/(a): two amqp-in nodes against one bare receiver. */
  nodeTwoRatio: number;
  /** (c) against two bare receivers. */
  nodeTwoVsBareTwo: number;
  /** The node's CPU per message over the bare receiver's (one consumer each). */
  cpuRatio: number;
}

const ACCOUNT = { accessKeyId: 'LTAI5tBenchAmqp', accessKeySecret: 'bench-amqp-access-key-secret' };
const SIDES = [
  { key: 'bare', consumer: 'bare', processes: 1 },
  { key: 'node', consumer: 'node', processes: 1 },
  { key: 'bareTwo', consumer: 'bare', processes: 2 },
  { key: 'nodeTwo', consumer: 'node', processes: 2 },
] as const;
type SideKey = (typeof SIDES)[number]['key'];
const groupOf = (key: SideKey) => `G_BENCH_${key.toUpperCase()}`;
const productOf = (key: SideKey) => `pkAmqp${key}`;
const DEVICE = 'amqp-bench-dev';

/** messageIds unique across rounds and sides: the node drops a messageId it has seen as a duplicate. */
let sequence = 0;

/** N property posts as the data flow turns them into messages (emulator/dataflow.ts). */
function dataFlow(key: SideKey, count: number): DataFlowMessage[] {
  const productKey = productOf(key);
  const payload = Buffer.from(
    JSON.stringify({
      iotId: 'j3BenchAmqpIotId00000000000000',
      requestId: '1',
      productKey,
      deviceName: DEVICE,
      gmtCreate: 1700000000000,
      deviceType: 'CustomCategory',
      items: { temperature: { value: 21.5, time: 1700000000000 }, humidity: { value: 40, time: 1700000000000 } },
    }),
  );
  const topic = `/${productKey}/${DEVICE}/thing/event/property/post`;
  return Array.from({ length: count }, () => ({
    topic,
    payload,
    // 19 digits, as the platform's.
    messageId: `17${String(++sequence).padStart(17, '0')}`,
    generateTime: 1700000000000,
    productKey,
    deviceName: DEVICE,
  }));
}

/** One consumer process, spoken to over IPC. */
class Consumer {
  private readonly child: ChildProcess;
  /** The end of what the child printed (Node-RED logs its errors on stdout), for a failure's message. */
  private output = '';
  private readonly exited: Promise<never>;

  constructor(options: AmqpChildOptions) {
    const prof = process.env.BENCH_CPU_PROF;
    this.child = fork(join(__dirname, '..', 'children', 'amqp.ts'), [JSON.stringify(options)], {
      cwd: join(__dirname, '..', '..'),
      execArgv: [
        '--expose-gc',
        '--import',
        'tsx',
        // A directory per consumer: tsx's loader thread writes a profile of its own beside the main one's.
        ...(prof ? ['--cpu-prof', '--cpu-prof-dir', join(prof, options.clientId)] : []),
      ],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((_, reject) =>
      this.child.once('exit', (code) =>
        reject(new Error(`amqp.ts ${options.clientId} exited (${code}):\n${this.output}`)),
      ),
    );
    // The failure is told by whoever waits for a reply; this only keeps it from going unhandled.
    this.exited.catch(() => undefined);
  }

  next<T extends AmqpChildReply['type']>(type: T): Promise<Extract<AmqpChildReply, { type: T }>> {
    const reply = new Promise<Extract<AmqpChildReply, { type: T }>>((resolve) => {
      const listener = (message: AmqpChildReply) => {
        if (message.type !== type) return;
        this.child.off('message', listener);
        resolve(message as Extract<AmqpChildReply, { type: T }>);
      };
      this.child.on('message', listener);
    });
    return Promise.race([reply, this.exited]);
  }

  command(command: AmqpChildCommand): void {
    if (this.child.connected) this.child.send(command);
  }

  /** Its CPU time so far, and its memory (after a full GC when `settle`). */
  mark(settle: boolean): Promise<Extract<AmqpChildReply, { type: 'mark' }>> {
    const reply = this.next('mark');
    this.command({ type: 'mark', settle });
    return reply;
  }

  /** Asks the child to undeploy and exit; one that does not within 30 s is killed. */
  async stop(): Promise<void> {
    this.command({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill(), 30_000);
    await this.exited.catch(() => undefined);
    clearTimeout(timer);
  }
}

/**
 * Resolves once `check` holds, polled every millisecond: `until`'s setImmediate loop would keep this
 * process (the emulator, which sends every message) spinning beside the consumers on a small machine.
 */
async function pollUntil(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(`bench: timed out waiting for ${what()}`);
    await sleep(1);
  }
}

/** One side's consumers, started and attached, and what its rounds measured. */
interface Side {
  key: SideKey;
  consumer: AmqpConsumerKind;
  processes: number;
  groupId: string;
  consumers: Consumer[];
  /** Each process's settled memory before it connected. */
  before: AmqpChildMemory[];
  throughput: number[];
  cpuUs: number[];
  serverCpu: number[];
  redelivered: number;
}

/** The side's consumer processes, started (they connect on their own). */
function startSide(emu: Emulator, caFile: string, spec: (typeof SIDES)[number], creditWindow: number): Side {
  const groupId = groupOf(spec.key);
  const consumers = Array.from(
    { length: spec.processes },
    (_, i) =>
      new Consumer({
        mode: spec.consumer,
        host: emu.host,
        port: emu.ports.amqp,
        httpsPort: emu.ports.https,
        caFile,
        groupId,
        // Explicit: the node's default (host name and node ID) is the same for both processes here.
        clientId: `bench-${spec.key}-${i}`,
        ...ACCOUNT,
        creditWindow,
      }),
  );
  return { ...spec, groupId, consumers, before: [], throughput: [], cpuUs: [], serverCpu: [], redelivered: 0 };
}

/** Resolves once every consumer of the side has its receiver link attached. */
async function attached(emu: Emulator, side: Side): Promise<void> {
  side.before = (await Promise.all(side.consumers.map((c) => c.next('up')))).map((u) => u.before);
  const { groupId, processes, consumer } = side;
  await pollUntil(
    () => emu.amqp.connections(groupId).length === processes,
    60_000,
    () => `${processes} ${consumer} consumers of ${groupId} attached (${emu.amqp.connections(groupId).length})`,
  );
}

/** One round: N messages published at once, timed until the group has accepted them all. */
async function round(emu: Emulator, side: Side, count: number): Promise<void> {
  const { groupId, consumers } = side;
  const messages = dataFlow(side.key, count);
  const start = emu.amqp.counters(groupId);
  const marks = await Promise.all(consumers.map((c) => c.mark(false)));
  const server = process.cpuUsage();
  const t0 = performance.now();
  for (const message of messages) emu.amqp.publish(message);
  await pollUntil(
    () => emu.amqp.counters(groupId).accepted - start.accepted >= count,
    120_000 + count * 10,
    () => `${groupId} to accept ${count} messages: ${JSON.stringify(emu.amqp.counters(groupId))}`,
  );
  const ms = performance.now() - t0;
  const { user, system } = process.cpuUsage(server);
  const after = await Promise.all(consumers.map((c) => c.mark(false)));
  side.redelivered += emu.amqp.counters(groupId).redelivered - start.redelivered;
  side.cpuUs.push(after.reduce((sum, m, i) => sum + m.cpuUs - marks[i]!.cpuUs, 0) / count);
  side.serverCpu.push((user + system) / 1000 / ms);
  side.throughput.push(count / (ms / 1000));
}

async function finish(side: Side): Promise<AmqpSide> {
  const settled = await Promise.all(side.consumers.map((c) => c.mark(true)));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    consumer: side.consumer,
    processes: side.processes,
    throughput: figure(side.throughput),
    consumerCpuUs: figure(side.cpuUs),
    serverCpu: figure(side.serverCpu),
    rssPeakDelta: mean(settled.map((m, i) => m.peakRss - side.before[i]!.rss)),
    rssDelta: mean(settled.map((m, i) => m.rss - side.before[i]!.rss)),
    heapDelta: mean(settled.map((m, i) => m.heapUsed - side.before[i]!.heapUsed)),
    redelivered: side.redelivered,
  };
}

/**
 * Every side's consumers are started first and stay attached (idle) while the others run; the
 * rounds take turns, side after side, so that a machine getting busier or quieter (these are shared
 * and noisy) weighs on every side alike. One warm-up round each first, not counted.
 */
export async function amqpThroughput(count: number, rounds: number): Promise<AmqpResult> {
  const emu = await startEmulator({
    accounts: [ACCOUNT],
    consumerGroups: SIDES.map((s) => ({ id: groupOf(s.key), productKeys: [productOf(s.key)] })),
    rateLimit: 0,
  });
  const caFile = join(mkdtempSync(join(tmpdir(), 'aliyun-iot-bench-')), 'ca.pem');
  writeFileSync(caFile, emu.ca);
  const creditWindow = DEFAULT_CREDIT;
  const sides: Side[] = [];
  let results: AmqpSide[];
  try {
    // One at a time: several Node-RED runtimes starting together would only slow each other.
    for (const spec of SIDES) {
      const side = startSide(emu, caFile, spec, creditWindow);
      sides.push(side);
      await attached(emu, side);
    }
    for (const side of sides) {
      await round(emu, side, count);
      side.throughput.length = side.cpuUs.length = side.serverCpu.length = 0;
    }
    for (let r = 0; r < rounds; r++) for (const side of sides) await round(emu, side, count);
    results = [];
    for (const side of sides) results.push(await finish(side));
  } finally {
    await Promise.all(sides.flatMap((side) => side.consumers.map((c) => c.stop())));
    await emu.close();
  }
  const [bare, node, bareTwo, nodeTwo] = results as [AmqpSide, AmqpSide, AmqpSide, AmqpSide];
  const ratio = (a: number, b: number) => (b ? a / b : 0);
  return {
    messages: count,
    creditWindow,
    flow: 'change node (set msg.handled), wired to nothing',
    bare,
    node,
    bareTwo,
    nodeTwo,
    nodeRatio: ratio(node.throughput.median, bare.throughput.median),
    nodeTwoRatio: ratio(nodeTwo.throughput.median, bare.throughput.median),
    nodeTwoVsBareTwo: ratio(nodeTwo.throughput.median, bareTwo.throughput.median),
    cpuRatio: ratio(node.consumerCpuUs.median, bare.consumerCpuUs.median),
  };
}
