// One side of the many-devices scenario in an embedded Node-RED in a process of its own: D devices,
// each a config node with a publish and a subscribe node, either the core mqtt nodes (`core`) or
// this package's (`ours`). It reports how long the deploy took until every device was connected,
// the memory that cost, then what 1 QoS 0 message per device per second costs for `seconds`: CPU
// and event-loop delay. Arguments: core|ours host port count seconds.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { deploy, deployStarted, deviceNodes, findNode, startRuntime, stopRuntime } from '../lib/runtime';
import { sleep } from '../lib/stats';
import { settledMemory, type ManyReport } from './memory';

const [sideArg = 'ours', host = '127.0.0.1', port = '1883', countArg = '10', secondsArg = '15'] = process.argv.slice(2);
const side = sideArg === 'core' ? 'core' : 'ours';
const count = Number(countArg);
const seconds = Number(secondsArg);
const broker = { host, ports: { mqtt: Number(port) } };
const device = (i: number) => ({ productKey: 'pkBench', deviceName: `many-${i}`, deviceSecret: `many-${i}-secret` });
const payload = JSON.stringify({ temperature: 21.5, humidity: 40 });

function flow(): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => i).flatMap((i) => deviceNodes(side, i, broker, device(i), 0));
}

function connected(i: number): boolean {
  const config = findNode<{ connection?: { state: string }; connected?: boolean }>(`cfg${i}`);
  return side === 'ours' ? config?.connection?.state === 'connected' : config?.connected === true;
}

/** Polls every 20 ms (not in a busy loop: that would cost the side being measured). */
async function allConnected(timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let from = 0;
  while (from < count) {
    while (from < count && connected(from)) from++;
    if (from === count) break;
    if (Date.now() > end) throw new Error(`${side}: ${from} of ${count} connected after ${timeoutMs} ms`);
    await sleep(20);
  }
  // Any that dropped meanwhile count against the side.
  for (let i = 0; i < count; i++) if (!connected(i)) return allConnected(end - Date.now());
}

/** Every device's publish node gets one message per second, spread over ten ticks. */
async function traffic(): Promise<{ cpu: number; loopP50: number; loopP99: number; sent: number }> {
  const pubs = Array.from({ length: count }, (_, i) => findNode(`pub${i}`)!);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  loop.enable();
  let sent = 0;
  const ticks = seconds * 10;
  for (let tick = 0; tick < ticks; tick++) {
    const from = Math.floor(((tick % 10) * count) / 10);
    const to = Math.floor((((tick % 10) + 1) * count) / 10);
    for (let i = from; i < to; i++) {
      pubs[i]!.receive({ payload });
      sent++;
    }
    // The next tick on the wall clock, whatever this one cost.
    await sleep(Math.max(0, t0 + (tick + 1) * 100 - performance.now()));
  }
  loop.disable();
  const used = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  return {
    cpu: (used.user + used.system) / 1000 / wall,
    loopP50: loop.percentile(50) / 1e6,
    loopP99: loop.percentile(99) / 1e6,
    sent,
  };
}

/** TRAFFIC_PROFILE=path: a CPU profile of the traffic phase alone (not the deploy), for --cpu-prof tools. */
async function profiled<T>(path: string | undefined, run: () => Promise<T>): Promise<T> {
  if (!path) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const result = await run();
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(path, JSON.stringify(profile));
  session.disconnect();
  return result;
}

/** DEBUG_MANY=1: the devices by state every second, on stderr. */
function progressOf(t0: number): void {
  const states: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const config = findNode<{ connection?: { state: string }; connected?: boolean }>(`cfg${i}`);
    const state = !config
      ? 'no node'
      : side === 'ours'
        ? (config.connection?.state ?? 'none')
        : String(config.connected);
    states[state] = (states[state] ?? 0) + 1;
  }
  process.stderr.write(`${Math.round(performance.now() - t0)} ms ${JSON.stringify(states)}\n`);
}

void (async () => {
  const rate = process.env.LOGIN_RATE;
  await startRuntime(rate === undefined ? {} : { aliyunIotDeviceLoginRate: Number(rate) });
  const before = settledMemory();
  const t0 = performance.now();
  const progress = process.env.DEBUG_MANY ? setInterval(() => progressOf(t0), 1000) : undefined;
  await deployStarted(flow(), 300_000);
  const startedMs = performance.now() - t0;
  if (process.env.DEBUG_MANY) process.stderr.write(`started ${Math.round(startedMs)}\n`);
  await allConnected(300_000);
  clearInterval(progress);
  const connectMs = performance.now() - t0;
  const atConnect = settledMemory();
  if (process.env.HEAPSNAP) (await import('node:v8')).writeHeapSnapshot(process.env.HEAPSNAP);
  const load = await profiled(process.env.TRAFFIC_PROFILE, traffic);
  const after = settledMemory();
  const report: ManyReport = {
    side,
    devices: count,
    connectMs,
    rssBefore: before.rss,
    rssConnected: atConnect.rss,
    rssAfterTraffic: after.rss,
    heapConnected: atConnect.heapUsed,
    ...load,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await deploy([]);
  await stopRuntime();
  process.exit(0);
})();
