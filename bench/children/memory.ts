// Memory of this process after a full GC (children run with --expose-gc).
export function settledMemory(): { rss: number; heapUsed: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

export interface DevicesReport {
  devices: number;
  connectMs: number;
  rssPerConnection: number;
  heapPerConnection: number;
}

export function report(result: DevicesReport): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export const argsOf = () => {
  const [host = '127.0.0.1', port = '1883', count = '10'] = process.argv.slice(2);
  return { host, port: Number(port), count: Number(count) };
};
