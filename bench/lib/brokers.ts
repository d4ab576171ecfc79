// The brokers a run measures against: the emulator (rate limit off), and mosquitto when installed.
// Scenarios see only this interface: where to connect, what arrived, and a cloud-side publish.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startEmulator, type Emulator, type ProductSpec } from '../../emulator/index';
import * as nr from '../../scripts/node-red-process';
import { sleep, until } from './stats';

export interface BenchDevice {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
}

export interface BenchBroker {
  name: string;
  host: string;
  ports: { mqtt: number; mqtts?: number };
  /** The CA of its TLS port, where it has one (the emulator). */
  ca?: string;
  /** Messages the broker has received from this device's topics. */
  received(device: BenchDevice): number;
  /** Resolves once the device is logged in with `subscriptions` filters in place. */
  ready(device: BenchDevice, subscriptions: number): Promise<void>;
  /** A publish from the cloud side (not from a device). */
  publishDown(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  close(): Promise<void>;
}

export function emulatorBroker(emu: Emulator): BenchBroker {
  const record = (d: BenchDevice) => emu.registry.device(d.productKey, d.deviceName);
  return {
    name: 'emulator',
    host: emu.host,
    ports: emu.ports,
    ca: emu.ca,
    received: (d) => record(d)?.counters.messagesIn ?? 0,
    ready: (d, subscriptions) =>
      until(
        () => record(d)?.online === true && record(d)!.subscriptions.size >= subscriptions,
        60_000,
        `${d.deviceName} ready`,
      ),
    publishDown: async (topic, payload, qos) => {
      await emu.broker.publish(topic, payload, qos);
    },
    close: () => emu.close(),
  };
}

/** `products` name node types: a gateway product's devices may carry sub-devices. */
export async function startEmulatorBroker(devices: BenchDevice[], products: ProductSpec[] = []): Promise<BenchBroker> {
  return emulatorBroker(await startEmulator({ devices, products, rateLimit: 0 }));
}

export const MOSQUITTO = '/usr/sbin/mosquitto';

/**
 * mosquitto on a free port, anonymous (it does not check the platform's signatures). A watcher
 * subscribed to `#` counts what devices publish, per device.
 */
export async function startMosquitto(): Promise<BenchBroker | undefined> {
  if (!existsSync(MOSQUITTO)) return undefined;
  const port = await nr.freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aliyun-iot-mosquitto-'));
  writeFileSync(
    join(dir, 'mosquitto.conf'),
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nset_tcp_nodelay true\n`,
  );
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  const url = `mqtt://127.0.0.1:${port}`;
  let watcher: MqttClient | undefined;
  for (let i = 0; i < 50 && !watcher; i++) {
    watcher = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'bench-watcher' }).catch(() => undefined);
    if (!watcher) await sleep(100);
  }
  if (!watcher) {
    child.kill();
    return undefined;
  }
  const counts = new Map<string, number>();
  watcher.on('message', (topic: string) => {
    const dn = topic.split('/')[2] ?? '';
    counts.set(dn, (counts.get(dn) ?? 0) + 1);
  });
  // Device uplink only: custom topics end in /user/update or /user/echo in these scenarios.
  await watcher.subscribeAsync({ '/+/+/user/update': { qos: 0 }, '/+/+/user/echo': { qos: 0 } });
  const cloud = watcher;
  return {
    name: 'mosquitto',
    host: '127.0.0.1',
    ports: { mqtt: port },
    received: (d) => counts.get(d.deviceName) ?? 0,
    // mosquitto cannot tell which device holds which subscription: give the logins a moment.
    ready: () => sleep(1500),
    publishDown: (topic, payload, qos) => cloud.publishAsync(topic, payload, { qos }).then(() => undefined),
    close: async () => {
      await cloud.endAsync(true);
      child.kill();
    },
  };
}
