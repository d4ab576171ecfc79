// 3. Many devices: D config nodes (each with a publish and a subscribe node) in one Node-RED against
// D bare mqtt.js clients, each side in its own process so its memory is its own.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { BenchBroker } from '../lib/brokers';
import type { DevicesReport } from '../children/memory';

export interface DevicesResult {
  devices: number;
  bare: DevicesReport;
  ours: DevicesReport;
}

function child(file: string, emu: BenchBroker, count: number): Promise<DevicesReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        join(__dirname, '..', 'children', file),
        emu.host,
        String(emu.ports.mqtt),
        String(count),
      ],
      { cwd: join(__dirname, '..', '..'), timeout: 300_000, maxBuffer: 10 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const line = stdout
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .at(-1);
        if (err || !line) reject(new Error(`${file} failed: ${err?.message ?? ''}\n${stderr}`));
        else resolve(JSON.parse(line) as DevicesReport);
      },
    );
  });
}

export async function manyDevices(emu: BenchBroker, count: number): Promise<DevicesResult> {
  const bare = await child('devices-bare.ts', emu, count);
  // Let the emulator see every bare client go before the same devices log in again.
  await new Promise((r) => setTimeout(r, 1000));
  const ours = await child('devices-ours.ts', emu, count);
  return { devices: count, bare, ours };
}

export function manyDeviceSpecs(count: number): { productKey: string; deviceName: string; deviceSecret: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    productKey: 'pkBench',
    deviceName: `many-${i}`,
    deviceSecret: `many-${i}-secret`,
  }));
}
