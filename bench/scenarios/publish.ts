// 1. Publish throughput, QoS 0 and 1: N messages until the broker has them all, for a bare mqtt.js
// client, Node-RED's core `mqtt out` and `aliyun-iot-publish`, each its own device on one emulator.
import mqtt from 'mqtt';
import type { BenchBroker } from '../lib/brokers';
import { signMqtt } from '../../nodes/lib/sign';
import { measure, until, type Figure } from '../lib/stats';
import { benchDevice, coreBroker, deploy, feed, ourDevice, type BenchDevice } from '../lib/runtime';

export interface PublishResult {
  qos: 0 | 1;
  messages: number;
  bare: Figure;
  core: Figure;
  ours: Figure;
}

const payload = JSON.stringify({ temperature: 21.5, humidity: 40, ts: 1700000000000 });

async function timed(
  emu: BenchBroker,
  device: BenchDevice,
  count: number,
  push: () => Promise<void> | void,
): Promise<number> {
  const start = emu.received(device);
  const t0 = performance.now();
  await push();
  await until(() => emu.received(device) - start >= count, 120_000, 'broker to receive every message');
  return count / ((performance.now() - t0) / 1000);
}

async function bare(emu: BenchBroker, qos: 0 | 1, count: number, rounds: number): Promise<Figure> {
  const device = benchDevice('pub-bare');
  const client = await mqtt.connectAsync(`mqtt://${emu.host}:${emu.ports.mqtt}`, {
    ...signMqtt({ ...device, securemode: 3 }),
    keepalive: 300,
    reconnectPeriod: 0,
  });
  const topic = `/${device.productKey}/${device.deviceName}/user/update`;
  const result = await measure(rounds, () =>
    timed(emu, device, count, () => {
      for (let i = 0; i < count; i++) client.publish(topic, payload, { qos });
    }),
  );
  await client.endAsync();
  return result;
}

async function inRuntime(
  emu: BenchBroker,
  qos: 0 | 1,
  count: number,
  rounds: number,
  kind: 'core' | 'ours',
): Promise<Figure> {
  const device = benchDevice(`pub-${kind}`);
  const topic = `/${device.productKey}/${device.deviceName}/user/update`;
  await deploy(
    kind === 'core'
      ? [
          coreBroker('cfg', emu, device),
          { id: 'pub', type: 'mqtt out', broker: 'cfg', topic, qos: String(qos), retain: 'false' },
        ]
      : [
          ourDevice('cfg', emu, device),
          { id: 'pub', type: 'aliyun-iot-publish', device: 'cfg', topic, qos: String(qos) },
        ],
  );
  await emu.ready(device, 0);
  const result = await measure(rounds, () => timed(emu, device, count, () => feed('pub', count, () => ({ payload }))));
  await deploy([]);
  return result;
}

export async function publishThroughput(
  emu: BenchBroker,
  qos: 0 | 1,
  count: number,
  rounds: number,
): Promise<PublishResult> {
  return {
    qos,
    messages: count,
    bare: await bare(emu, qos, count, rounds),
    core: await inRuntime(emu, qos, count, rounds, 'core'),
    ours: await inRuntime(emu, qos, count, rounds, 'ours'),
  };
}
