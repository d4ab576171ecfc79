// D bare mqtt.js clients, one per device, in a process of their own.
import mqtt, { type MqttClient } from 'mqtt';
import { signMqtt } from '../../nodes/lib/sign';
import { argsOf, report, settledMemory } from './memory';

void (async () => {
  const { host, port, count } = argsOf();
  const before = settledMemory();
  const t0 = performance.now();
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const device = { productKey: 'pkBench', deviceName: `many-${i}`, deviceSecret: `many-${i}-secret` };
      return mqtt.connectAsync(`mqtt://${host}:${port}`, {
        ...signMqtt({ ...device, securemode: 3 }),
        keepalive: 300,
        reconnectPeriod: 0,
      });
    }),
  );
  // What a publish and a subscribe node would need: one subscription per device.
  await Promise.all(clients.map((c, i) => c.subscribeAsync(`/pkBench/many-${i}/user/get`)));
  const connectMs = performance.now() - t0;
  report(count, connectMs, before);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  process.exit(0);
})();
