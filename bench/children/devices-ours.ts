// D aliyun-iot-device config nodes, each with a publish and a subscribe node, in an embedded
// Node-RED in a process of its own.
import { deploy, findNode, ourDevice, startRuntime, stopRuntime } from '../lib/runtime';
import { until } from '../lib/stats';
import { argsOf, report, settledMemory } from './memory';

void (async () => {
  const { host, port, count } = argsOf();
  await startRuntime();
  const flow: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const device = { productKey: 'pkBench', deviceName: `many-${i}`, deviceSecret: `many-${i}-secret` };
    flow.push(
      ourDevice(`cfg${i}`, { host, ports: { mqtt: port } }, device),
      { id: `pub${i}`, type: 'aliyun-iot-publish', device: `cfg${i}`, topic: 'user/update' },
      { id: `sub${i}`, type: 'aliyun-iot-subscribe', device: `cfg${i}`, topic: 'user/get' },
    );
  }
  const before = settledMemory();
  const t0 = performance.now();
  await deploy(flow);
  const connected = (i: number) =>
    findNode<{ connection?: { state: string } }>(`cfg${i}`)?.connection?.state === 'connected';
  await until(() => Array.from({ length: count }, (_, i) => i).every(connected), 120_000, 'every device connected');
  const connectMs = performance.now() - t0;
  report(count, connectMs, before);
  await deploy([]);
  await stopRuntime();
  process.exit(0);
})();
