// 2. Subscribe fan-out: one device, S subscribe nodes (distinct filters, a fifth with wildcards),
// M messages from the cloud side; messages delivered per second, ours against core `mqtt in`.
import type { BenchBroker } from '../lib/brokers';
import { measure, until, type Figure } from '../lib/stats';
import { benchDevice, coreBroker, deploy, ourDevice, probe } from '../lib/runtime';

export interface FanoutResult {
  subscribers: number;
  messages: number;
  core: Figure;
  ours: Figure;
}

function filterOf(i: number, base: string): string {
  return i % 5 === 0 ? `${base}/user/w${i}/+` : `${base}/user/s${i}`;
}

function topicOf(i: number, base: string): string {
  return i % 5 === 0 ? `${base}/user/w${i}/x` : `${base}/user/s${i}`;
}

async function run(
  emu: BenchBroker,
  kind: 'core' | 'ours',
  subscribers: number,
  messages: number,
  rounds: number,
): Promise<Figure> {
  const device = benchDevice(`fan-${kind}`);
  const base = `/${device.productKey}/${device.deviceName}`;
  const nodes: Record<string, unknown>[] = [{ id: 'probe', type: 'bench-probe' }];
  nodes.push(kind === 'core' ? coreBroker('cfg', emu, device) : ourDevice('cfg', emu, device));
  for (let i = 0; i < subscribers; i++) {
    const filter = filterOf(i, base);
    nodes.push(
      kind === 'core'
        ? {
            id: `s${i}`,
            type: 'mqtt in',
            broker: 'cfg',
            topic: filter,
            qos: '0',
            datatype: 'auto-detect',
            wires: [['probe']],
          }
        : {
            id: `s${i}`,
            type: 'aliyun-iot-subscribe',
            device: 'cfg',
            topic: filter,
            qos: '0',
            format: 'auto',
            wires: [['probe']],
          },
    );
  }
  await deploy(nodes);
  await emu.ready(device, subscribers);
  const result = await measure(rounds, async () => {
    const seen = probe();
    const start = seen.count;
    const t0 = performance.now();
    for (let i = 0; i < messages; i++) {
      await emu.publishDown(topicOf(i % subscribers, base), 'reading 21.5', 0);
    }
    await until(() => seen.count - start >= messages, 120_000, `${kind} deliveries`);
    return messages / ((performance.now() - t0) / 1000);
  });
  await deploy([]);
  return result;
}

export async function fanout(
  emu: BenchBroker,
  subscribers: number,
  messages: number,
  rounds: number,
): Promise<FanoutResult> {
  return {
    subscribers,
    messages,
    core: await run(emu, 'core', subscribers, messages, rounds),
    ours: await run(emu, 'ours', subscribers, messages, rounds),
  };
}
