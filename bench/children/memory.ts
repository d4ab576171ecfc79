// Memory of this process after a full GC (children run with --expose-gc).
export function settledMemory(): { rss: number; heapUsed: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

/** What children/many.ts reports for one side, core or ours. */
export interface ManyReport {
  side: 'core' | 'ours';
  devices: number;
  connectMs: number;
  /** Absolute RSS (bytes) after a full GC, before the deploy, once connected and after the traffic. */
  rssBefore: number;
  rssConnected: number;
  rssAfterTraffic: number;
  heapConnected: number;
  /** Share of one core this process used while the traffic ran. */
  cpu: number;
  /** Event-loop delay while the traffic ran (ms). */
  loopP50: number;
  loopP99: number;
  sent: number;
}

export interface DevicesReport {
  devices: number;
  connectMs: number;
  rssPerConnection: number;
  heapPerConnection: number;
}

/** Prints what `count` connections cost, from memory taken before and after they were made. */
export function report(count: number, connectMs: number, before: ReturnType<typeof settledMemory>): void {
  const after = settledMemory();
  const result: DevicesReport = {
    devices: count,
    connectMs,
    rssPerConnection: (after.rss - before.rss) / count,
    heapPerConnection: (after.heapUsed - before.heapUsed) / count,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export const argsOf = () => {
  const [host = '127.0.0.1', port = '1883', count = '10'] = process.argv.slice(2);
  return { host, port: Number(port), count: Number(count) };
};
