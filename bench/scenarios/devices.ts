// 3. Many devices: D devices in one process, each side a process of its own so its memory is its
// own: D bare mqtt.js clients (one subscription each), and an embedded Node-RED with D config
// nodes, each with a publish and a subscribe node, of Node-RED's core mqtt nodes and of this
// package (children/many.ts). For both Node-RED sides: the deploy until every device is connected,
// RSS, then `seconds` of 1 QoS 0 message per device per second: CPU and event-loop delay.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { BenchBroker } from '../lib/brokers';
import type { DevicesReport, ManyReport } from '../children/memory';

export interface DevicesResult {
  devices: number;
  seconds: number;
  bare: DevicesReport;
  core: ManyReport;
  ours: ManyReport;
}

function child<T>(args: string[], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', ...args],
      { cwd: join(__dirname, '..', '..'), timeout: timeoutMs, maxBuffer: 10 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const line = stdout
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .at(-1);
        if (err || !line) reject(new Error(`${args[0] ?? ''} failed: ${err?.message ?? ''}\n${stderr}`));
        else resolve(JSON.parse(line) as T);
      },
    );
  });
}

const children = join(__dirname, '..', 'children');
/** Lets the broker see every client of one side go before the same devices log in again. */
const between = () => new Promise((r) => setTimeout(r, 2000));

export async function manyDevices(broker: BenchBroker, count: number, seconds: number): Promise<DevicesResult> {
  const where = [broker.host, String(broker.ports.mqtt), String(count)];
  // Beyond two minutes to connect, or twice the traffic's time, something is wrong.
  const deadline = 180_000 + seconds * 2000;
  const bare = await child<DevicesReport>([join(children, 'devices-bare.ts'), ...where], deadline);
  await between();
  const core = await child<ManyReport>([join(children, 'many.ts'), 'core', ...where, String(seconds)], deadline);
  await between();
  const ours = await child<ManyReport>([join(children, 'many.ts'), 'ours', ...where, String(seconds)], deadline);
  await between();
  return { devices: count, seconds, bare, core, ours };
}

export function manyDeviceSpecs(count: number): { productKey: string; deviceName: string; deviceSecret: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    productKey: 'pkBench',
    deviceName: `many-${i}`,
    deviceSecret: `many-${i}-secret`,
  }));
}
