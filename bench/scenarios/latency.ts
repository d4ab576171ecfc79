// 4. QoS 1 latency, one message at a time: publish -> PUBACK and publish -> delivery through the
// broker to a subscriber of the same device, p50 and p99, ours against a bare mqtt.js client.
import mqtt from 'mqtt';
import type { BenchBroker } from '../lib/brokers';
import { signMqtt } from '../../nodes/lib/sign';
import { percentile, until } from '../lib/stats';
import { benchDevice, deploy, node, onComplete, ourDevice, probe } from '../lib/runtime';

export interface LatencySide {
  pubackP50: number;
  pubackP99: number;
  deliveryP50: number;
  deliveryP99: number;
}

export interface LatencyResult {
  samples: number;
  bare: LatencySide;
  ours: LatencySide;
}

function side(puback: number[], delivery: number[]): LatencySide {
  return {
    pubackP50: percentile(puback, 50),
    pubackP99: percentile(puback, 99),
    deliveryP50: percentile(delivery, 50),
    deliveryP99: percentile(delivery, 99),
  };
}

async function bare(emu: BenchBroker, samples: number): Promise<LatencySide> {
  const device = benchDevice('lat-bare');
  const topic = `/${device.productKey}/${device.deviceName}/user/echo`;
  const client = await mqtt.connectAsync(`mqtt://${emu.host}:${emu.ports.mqtt}`, {
    ...signMqtt({ ...device, securemode: 3 }),
    keepalive: 300,
    reconnectPeriod: 0,
  });
  await client.subscribeAsync(topic, { qos: 1 });
  const puback: number[] = [];
  const delivery: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const delivered = new Promise<void>((resolve) => client.once('message', () => resolve()));
    await new Promise<void>((resolve) => client.publish(topic, `seq:${i}`, { qos: 1 }, () => resolve()));
    puback.push(performance.now() - t0);
    await delivered;
    delivery.push(performance.now() - t0);
  }
  await client.endAsync();
  return side(puback, delivery);
}

async function ours(emu: BenchBroker, samples: number): Promise<LatencySide> {
  const device = benchDevice('lat-ours');
  await deploy([
    { id: 'probe', type: 'bench-probe' },
    ourDevice('cfg', emu, device),
    { id: 'pub', type: 'aliyun-iot-publish', device: 'cfg', topic: 'user/echo', qos: '1' },
    {
      id: 'sub',
      type: 'aliyun-iot-subscribe',
      device: 'cfg',
      topic: 'user/echo',
      qos: '1',
      format: 'string',
      wires: [['probe']],
    },
  ]);
  await emu.ready(device, 1);
  const pub = node('pub');
  // The publish node's done() is the moment the PUBACK settled the message.
  let completed: (() => void) | undefined;
  const stop = onComplete('pub', () => completed?.());
  const seen = probe();
  const puback: number[] = [];
  const delivery: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => (completed = resolve));
    pub.receive({ payload: `seq:${i}` });
    await done;
    puback.push(performance.now() - t0);
    await until(() => seen.arrivals.has(i), 10_000, 'delivery');
    delivery.push(seen.arrivals.get(i)! - t0);
  }
  stop();
  seen.arrivals.clear();
  await deploy([]);
  return side(puback, delivery);
}

export async function latency(emu: BenchBroker, samples: number): Promise<LatencyResult> {
  return { samples, bare: await bare(emu, samples), ours: await ours(emu, samples) };
}
