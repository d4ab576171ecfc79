// `npm run soak -- --minutes N`: the flapping-link and redeploy-churn scenarios for N minutes against
// the emulator, printing memory, handles and message counts once a minute. Exits 1 on any loss.
import type { DeviceConnection } from '../nodes/lib/connection';
import { eventually, sleep, start } from '../test/helpers/emulator';
import { credentialsFor, fastPool, helper, NODES } from '../test/helpers/flows';
import { FaultProxy } from '../test/helpers/proxy';
import { onComplete, resetSpyHistory } from '../test/helpers/red-internals';

const device = { productKey: 'pkSoak', deviceName: 'soak-dev', deviceSecret: 'soak-secret' };
const minutesArg = process.argv.indexOf('--minutes');
const minutes = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 15;
const RATE_PER_S = 50;

function flow(port: number, name: string) {
  return [
    {
      id: 'dev',
      type: 'aliyun-iot-device',
      productKey: device.productKey,
      deviceName: device.deviceName,
      endpoint: 'custom',
      host: '127.0.0.1',
      port: String(port),
      transport: 'tcp',
      keepalive: '30',
      rateLimit: '0',
      queueSize: '100000',
    },
    { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/soak', qos: '1', name },
    { id: 'sub', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/echo' },
  ];
}

function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function main(): Promise<void> {
  fastPool();
  const emu = await start({ devices: [device], rateLimit: 0 });
  const proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
  // Counters only, so that the soak's own bookkeeping does not grow the heap it reports.
  const capacity = Math.ceil(minutes * 60 * RATE_PER_S * 1.5) + 1000;
  const deliveries = new Uint8Array(capacity);
  let delivered = 0;
  let duplicates = 0;
  emu.broker.aedes.on('publish', (packet, client) => {
    if (!client || !packet.topic.endsWith('/user/soak')) return;
    const n = Number(packet.payload.toString().slice(1));
    if (deliveries[n]! === 0) delivered++;
    else duplicates++;
    deliveries[n] = Math.min(255, deliveries[n]! + 1);
  });
  await helper.startServer();
  await helper.load(NODES, flow(proxy.port, 'soak'), credentialsFor(device));
  let settled = 0;
  let failed = 0;
  // Each deploy makes a new publish node: count its done() calls.
  const track = () => {
    onComplete(helper.getNode('pub')!, (_msg, err) => {
      settled++;
      if (err) failed++;
    });
  };
  track();
  let sent = 0;
  let cuts = 0;
  let deploys = 0;
  const traffic = setInterval(() => {
    helper.getNode('pub')?.receive({ payload: `s${sent++}` });
  }, 1000 / RATE_PER_S);
  const startedAt = Date.now();
  const endAt = startedAt + minutes * 60_000;
  let nextReport = startedAt + 60_000;
  console.log(`soak: ${minutes} min, ${RATE_PER_S} QoS 1 msg/s, link cut every 1-5 s, redeploy every 10 s`);
  console.log('min  rss MB  heap MB  timers  sockets  sent  settled  delivered  duplicates  cuts  deploys');
  let nextDeploy = startedAt + 10_000;
  while (Date.now() < endAt) {
    await sleep(1000 + Math.floor(Math.random() * 4000));
    // Reported between cuts, while the link is up.
    if (Date.now() >= nextReport) {
      // The test helper's spies record every call; without this the harness itself would grow.
      resetSpyHistory();
      global.gc?.();
      const mem = process.memoryUsage();
      const h = handles();
      const line = [
        String(Math.round((Date.now() - startedAt) / 60_000)).padStart(3),
        (mem.rss / 1e6).toFixed(1).padStart(7),
        (mem.heapUsed / 1e6).toFixed(1).padStart(8),
        String(h.Timeout ?? 0).padStart(7),
        String(h.TCPSocketWrap ?? 0).padStart(8),
        String(sent).padStart(5),
        String(settled).padStart(8),
        String(delivered).padStart(10),
        String(duplicates).padStart(11),
        String(cuts).padStart(5),
        String(deploys).padStart(8),
      ];
      console.log(line.join(' '));
      nextReport += 60_000;
    }
    proxy.cut();
    cuts++;
    if (Date.now() >= nextDeploy) {
      // Alternate full and partial deploys, as users do.
      await helper.setFlows(
        flow(proxy.port, `soak-${deploys}`),
        deploys % 2 ? 'full' : 'nodes',
        credentialsFor(device),
      );
      track();
      deploys++;
      nextDeploy += 10_000;
    }
  }
  clearInterval(traffic);
  const connection = (helper.getNode('dev') as unknown as { connection: DeviceConnection }).connection;
  await eventually(() => connection.state === 'connected', 30_000, 'connected at the end');
  await eventually(() => settled === sent, 60_000, 'every publish settled').catch(() => undefined);
  await eventually(() => delivered === sent, 10_000, 'every message delivered').catch(() => undefined);
  const lost = sent - delivered;
  console.log(
    `done: ${sent} sent, ${settled} settled (${failed} failed), ${delivered} delivered, ${lost} lost, ${duplicates} duplicates, ${cuts} cuts, ${deploys} deploys, rss ${(process.memoryUsage().rss / 1e6).toFixed(1)} MB`,
  );
  await helper.unload();
  await helper.stopServer();
  await proxy.close();
  await emu.close();
  process.exit(lost === 0 && failed === 0 && settled === sent ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
