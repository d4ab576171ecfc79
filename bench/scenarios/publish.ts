// 1. Publish throughput, QoS 0 and 1: N messages until the broker has them all, for a bare mqtt.js
// client, Node-RED's core `mqtt out` and `aliyun-iot-publish`, each its own device on one broker.
// The Node-RED sides are fed in the two shapes real flows have: a `split` node handing over the
// whole batch at once (as a function node looping node.send() does), and an upstream that yields
// every 500 messages (a paced source: inject, a socket, a file read in chunks).
import mqtt from 'mqtt';
import type { BenchBroker } from '../lib/brokers';
import { signMqtt } from '../../nodes/lib/sign';
import { measure, until, type Figure } from '../lib/stats';
import {
  benchDevice,
  coreBroker,
  deploy,
  deployStarted,
  feed,
  node,
  ourDevice,
  type BenchDevice,
} from '../lib/runtime';

export type FeedShape = 'split' | 'paced';

export interface PublishResult {
  qos: 0 | 1;
  messages: number;
  bare: Figure;
  /** Fed by a split node, the whole batch at once. */
  core: Figure;
  ours: Figure;
  /** Fed 500 at a time, yielding to the event loop between. */
  corePaced: Figure;
  oursPaced: Figure;
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
  shape: FeedShape,
): Promise<Figure> {
  const device = benchDevice(`pub-${kind}`);
  const topic = `/${device.productKey}/${device.deviceName}/user/update`;
  await deployStarted([
    // Node-RED's own split node (an id equal to a type name reads as a circular config node): an array payload becomes one message per element, sent in one go.
    {
      id: 'splitter',
      type: 'split',
      splt: '\\n',
      spltType: 'str',
      arraySplt: 1,
      arraySpltType: 'len',
      wires: [['pub']],
    },
    ...(kind === 'core'
      ? [
          coreBroker('cfg', emu, device),
          { id: 'pub', type: 'mqtt out', broker: 'cfg', topic, qos: String(qos), retain: 'false' },
        ]
      : [
          ourDevice('cfg', emu, device),
          { id: 'pub', type: 'aliyun-iot-publish', device: 'cfg', topic, qos: String(qos) },
        ]),
  ]);
  await emu.ready(device, 0);
  const batch = Array.from({ length: count }, () => payload);
  const push =
    shape === 'split'
      ? () => node('splitter').receive({ payload: batch })
      : () => feed('pub', count, () => ({ payload }));
  const result = await measure(rounds, () => timed(emu, device, count, push));
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
    core: await inRuntime(emu, qos, count, rounds, 'core', 'split'),
    ours: await inRuntime(emu, qos, count, rounds, 'ours', 'split'),
    corePaced: await inRuntime(emu, qos, count, rounds, 'core', 'paced'),
    oursPaced: await inRuntime(emu, qos, count, rounds, 'ours', 'paced'),
  };
}
