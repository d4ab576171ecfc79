// `npm run bench [-- --quick]`: every scenario side by side with what users would use instead, in one
// run on one broker (the emulator, rate limit off), as ratios; a table and bench/results/latest.json.
// `-- --only gateway|amqp|devices|wave`: that scenario alone (quicker while working on it); it
// prints its table and leaves latest.json as it is, which holds complete runs only.
// `-- --max-login-share 0.25`: the reconnect wave's limit on any one second's share of its logins.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { MOSQUITTO, startEmulatorBroker, startMosquitto, type BenchBroker } from './lib/brokers';
import { fleetSpecs } from './lib/fleet';
import { benchDevice, startRuntime, stopRuntime } from './lib/runtime';
import { amqpThroughput, type AmqpResult, type AmqpSide } from './scenarios/amqp';
import { manyDevices, manyDeviceSpecs, type DevicesResult } from './scenarios/devices';
import { fanout, type FanoutResult } from './scenarios/fanout';
import { gatewayVsDirect, type GatewayResult } from './scenarios/gateway';
import { latency, type LatencyResult } from './scenarios/latency';
import { publishThroughput, type PublishResult } from './scenarios/publish';
import { signing } from './scenarios/signing';
import { reconnectWave, waveRows, type WaveResult } from './scenarios/wave';

const root = join(__dirname, '..');
const quick = process.argv.includes('--quick');
const ONLY = ['gateway', 'amqp', 'devices', 'wave'] as const;
const onlyArg = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const only = ONLY.find((o) => o === onlyArg);
if (onlyArg !== undefined && only === undefined) throw new Error(`--only: one of ${ONLY.join(', ')}, not ${onlyArg}`);
const SIZE = quick
  ? {
      messages: 2000,
      rounds: 2,
      fanoutMessages: 500,
      subscribers: [5, 50, 500],
      devices: [200],
      // Seconds of 1 msg/s per device after all connected.
      trafficSeconds: 3,
      samples: 100,
      signatures: 2000,
      // Sub-devices behind one gateway (and as many direct devices), messages each.
      gateway: { devices: 100, messages: 2 },
      // Messages through the AMQP subscription per round.
      amqp: 2000,
      // Devices whose mosquitto is killed, and for how long.
      wave: { devices: 200, outageMs: 5000 },
    }
  : {
      messages: 50_000,
      rounds: 5,
      fanoutMessages: 20_000,
      subscribers: [5, 50, 500],
      devices: [1000, 10_000],
      trafficSeconds: 15,
      samples: 2000,
      signatures: 20_000,
      // The platform's maximum of sub-devices per gateway.
      gateway: { devices: 2000, messages: 5 },
      amqp: 50_000,
      wave: { devices: 10_000, outageMs: 30_000 },
    };
/** The largest share of a wave's logins allowed in any one second (`--max-login-share 0.25`). */
const shareArg = process.argv.includes('--max-login-share')
  ? Number(process.argv[process.argv.indexOf('--max-login-share') + 1])
  : 0.25;

function version(pkg: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string })
    .version;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number, b: number) => (b ? a / b : 0);

function table(all: string[][]): string {
  // A scenario run alone leaves an empty separator first.
  const rows = all.slice(all.findIndex((r) => r.length > 0));
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  // An empty row separates brokers.
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n');
}

interface BrokerResults {
  broker: string;
  publish: PublishResult[];
  fanout: FanoutResult[];
  fanoutCostRatio: number;
  devices: DevicesResult[];
  /** Absent when only the devices scenario ran. */
  latency?: LatencyResult;
}

/** `--only devices`: the many-devices scenario alone on this broker. */
async function devicesOn(broker: BenchBroker): Promise<BrokerResults> {
  const devices: DevicesResult[] = [];
  for (const d of SIZE.devices) devices.push(await manyDevices(broker, d, SIZE.trafficSeconds));
  return { broker: broker.name, publish: [], fanout: [], fanoutCostRatio: 0, devices };
}

async function runOn(broker: BenchBroker): Promise<BrokerResults> {
  if (only === 'devices') return devicesOn(broker);
  await startRuntime();
  const publish: PublishResult[] = [];
  for (const qos of [0, 1] as const) publish.push(await publishThroughput(broker, qos, SIZE.messages, SIZE.rounds));
  const fan: FanoutResult[] = [];
  for (const s of SIZE.subscribers) fan.push(await fanout(broker, s, SIZE.fanoutMessages, SIZE.rounds));
  const lat = await latency(broker, SIZE.samples);
  await stopRuntime();
  const devices: DevicesResult[] = [];
  for (const d of SIZE.devices) devices.push(await manyDevices(broker, d, SIZE.trafficSeconds));
  const s5 = fan.find((f) => f.subscribers === 5);
  const s500 = fan.find((f) => f.subscribers === 500);
  const fanoutCostRatio = s5 && s500 ? s5.ours.median / s500.ours.median : 0;
  return { broker: broker.name, publish, fanout: fan, fanoutCostRatio, devices, latency: lat };
}

function rowsOf(r: BrokerResults): string[][] {
  const rows: string[][] = [
    [`on ${r.broker}`, 'bare mqtt.js', 'core mqtt nodes', 'aliyun-iot', 'ours/bare', 'ours/core', 'spread (ours)'],
  ];
  for (const p of r.publish) {
    for (const [feedName, core, ours] of [
      ['split node, all at once', p.core, p.ours],
      ['paced, 500 per tick', p.corePaced, p.oursPaced],
    ] as const) {
      rows.push([
        `publish QoS ${p.qos}, ${fmt(p.messages)} msgs, ${feedName} (msg/s)`,
        fmt(p.bare.median),
        fmt(core.median),
        fmt(ours.median),
        fmt(ratio(ours.median, p.bare.median), 2),
        fmt(ratio(ours.median, core.median), 2),
        `${fmt(ours.spread * 100)}%`,
      ]);
    }
  }
  for (const f of r.fanout) {
    rows.push([
      `fan-out S=${f.subscribers}, ${fmt(f.messages)} msgs (msg/s)`,
      '',
      fmt(f.core.median),
      fmt(f.ours.median),
      '',
      fmt(ratio(f.ours.median, f.core.median), 2),
      `${fmt(f.ours.spread * 100)}%`,
    ]);
  }
  if (r.fanout.length > 0)
    rows.push(['fan-out cost per msg S=500 / S=5 (ours)', '', '', fmt(r.fanoutCostRatio, 2), '', '', '']);
  /** A row that compares ours with the bare client only. */
  const versusBare = (label: string, bare: number, ours: number, digits: number) =>
    rows.push([label, fmt(bare, digits), '', fmt(ours, digits), fmt(ratio(ours, bare), 2), '', '']);
  for (const d of r.devices) {
    const n = `${fmt(d.devices)} devices`;
    /** ours against core, and against bare mqtt.js where it has the figure. */
    const three = (label: string, bare: number | undefined, core: number, ours: number, digits: number) =>
      rows.push([
        `${n}: ${label}`,
        bare === undefined ? '' : fmt(bare, digits),
        fmt(core, digits),
        fmt(ours, digits),
        bare === undefined ? '' : fmt(ratio(ours, bare), 2),
        fmt(ratio(ours, core), 2),
        '',
      ]);
    const mb = (bytes: number) => bytes / 2 ** 20;
    three('time to all connected (ms)', d.bare.connectMs, d.core.connectMs, d.ours.connectMs, 0);
    three('RSS once connected (MB)', undefined, mb(d.core.rssConnected), mb(d.ours.rssConnected), 0);
    three(
      'RSS per device (KB)',
      d.bare.rssPerConnection / 1024,
      (d.core.rssConnected - d.core.rssBefore) / d.devices / 1024,
      (d.ours.rssConnected - d.ours.rssBefore) / d.devices / 1024,
      1,
    );
    const traffic = `${d.seconds} s of 1 msg/s each`;
    three(`CPU during ${traffic} (% of a core)`, undefined, d.core.cpu * 100, d.ours.cpu * 100, 1);
    three(`event-loop delay p99 during it (ms)`, undefined, d.core.loopP99, d.ours.loopP99, 1);
    three(`RSS after it (MB)`, undefined, mb(d.core.rssAfterTraffic), mb(d.ours.rssAfterTraffic), 0);
  }
  const lat = r.latency;
  for (const [label, key] of [
    ['QoS 1 publish->PUBACK', 'puback'],
    ['QoS 1 publish->delivery', 'delivery'],
  ] as const) {
    for (const p of ['P50', 'P99'] as const) {
      if (lat) versusBare(`${label} ${p.toLowerCase()} (ms)`, lat.bare[`${key}${p}`], lat.ours[`${key}${p}`], 3);
    }
  }
  return rows;
}

/** Sub-devices against direct devices: the emulator's only (mosquitto has no gateways). */
function gatewayRows(g: GatewayResult): string[][] {
  const n = `${fmt(g.devices)} devices`;
  const row = (label: string, direct: number, sub: number, digits: number, spread = '', compare = true) => [
    label,
    fmt(direct, digits),
    '',
    fmt(sub, digits),
    compare ? fmt(ratio(sub, direct), 2) : '',
    '',
    spread,
  ];
  const { sub, direct } = g;
  const messages = `${n} x ${g.messagesPerDevice} QoS 0 msgs`;
  return [
    ['gateway on emulator', 'direct devices', '', 'sub-devices', 'sub/direct', '', 'spread (sub)'],
    row(`${n}: time to all online (ms)`, direct.connectMs, sub.connectMs, 0),
    // Logins the platform refused (a gateway's 429, say) and the device retried: they cost time.
    row(`${n}: setbacks on the way (refusals, kicks)`, direct.setbacks, sub.setbacks, 0, '', false),
    row(`${n}: RSS per device (KB)`, direct.rssPerDevice / 1024, sub.rssPerDevice / 1024, 1),
    // Direct devices over TLS, the default transport: what a sub-device saves includes TLS.
    row(`${n}: time to all online, direct over TLS (ms)`, g.directTls.connectMs, sub.connectMs, 0),
    row(`${n}: RSS per device, direct over TLS (KB)`, g.directTls.rssPerDevice / 1024, sub.rssPerDevice / 1024, 1),
    row(`${n}: heap per device (KB)`, direct.heapPerDevice / 1024, sub.heapPerDevice / 1024, 1),
    row(
      `${messages} upstream (msg/s)`,
      direct.throughput.median,
      sub.throughput.median,
      0,
      `${fmt(sub.throughput.spread * 100)}%`,
    ),
    // The package's own share of that time: the publish nodes taking every message, synchronously.
    row(`${messages}: handed to publish nodes in (ms)`, direct.injectMs.median, sub.injectMs.median, 0),
  ];
}

/** The AMQP subscription: bare rhea receivers against amqp-in nodes, each consumer a process of its own. */
function amqpRows(a: AmqpResult): string[][] {
  const row = (label: string, bare: number, ours: number, digits: number, spread = '', compare = true) => [
    label,
    fmt(bare, digits),
    '',
    fmt(ours, digits),
    compare ? fmt(ratio(ours, bare), 2) : '',
    '',
    spread,
  ];
  const spread = (s: AmqpSide) => `${fmt(s.throughput.spread * 100)}%`;
  const one = `1 consumer`;
  const two = `2 consumers (2 processes)`;
  const rows = [
    ['amqp on emulator', 'bare rhea', '', 'amqp-in', 'ours/bare', '', 'spread (ours)'],
    row(
      `${one}, ${fmt(a.messages)} msgs, credit ${a.creditWindow} (msg/s)`,
      a.bare.throughput.median,
      a.node.throughput.median,
      0,
      spread(a.node),
    ),
    row(`${two} (msg/s)`, a.bareTwo.throughput.median, a.nodeTwo.throughput.median, 0, spread(a.nodeTwo)),
    // Issue 18's (c)/(a): two instances of the node against one bare receiver.
    row(`2 amqp-in against 1 bare receiver (msg/s)`, a.bare.throughput.median, a.nodeTwo.throughput.median, 0),
    row(`${one}: consumer CPU per msg (µs)`, a.bare.consumerCpuUs.median, a.node.consumerCpuUs.median, 1),
    row(`${two}: consumer CPU per msg (µs)`, a.bareTwo.consumerCpuUs.median, a.nodeTwo.consumerCpuUs.median, 1),
    // Near 100 %: the emulator (the server side) sets the pace. Near 100 % with the consumer's share
    // (msg/s x its CPU per msg): the two take turns, and a message costs the sum of both.
    row(
      `${one}: emulator busy (% of a core)`,
      a.bare.serverCpu.median * 100,
      a.node.serverCpu.median * 100,
      0,
      '',
      false,
    ),
    row(
      `${two}: emulator busy (% of a core)`,
      a.bareTwo.serverCpu.median * 100,
      a.nodeTwo.serverCpu.median * 100,
      0,
      '',
      false,
    ),
    // Against the process before it connected (Node-RED already started on our side).
    row(`${one}: RSS peak growth (MB)`, a.bare.rssPeakDelta / 2 ** 20, a.node.rssPeakDelta / 2 ** 20, 1, '', false),
    row(`${one}: heap growth, settled (MB)`, a.bare.heapDelta / 2 ** 20, a.node.heapDelta / 2 ** 20, 1, '', false),
  ];
  const redelivered = [a.bare, a.node, a.bareTwo, a.nodeTwo].map((s) => s.redelivered);
  if (redelivered.some((n) => n > 0))
    rows.push([
      `pushed again by the server (bare, ours, bare x2, ours x2)`,
      redelivered.join(', '),
      '',
      '',
      '',
      '',
      '',
    ]);
  return rows;
}

/** The emulator of the MQTT scenarios, every device they use registered. */
function mqttEmulator(): Promise<BenchBroker> {
  const names = ['pub-bare', 'pub-core', 'pub-ours', 'fan-core', 'fan-ours', 'lat-bare', 'lat-ours'];
  const fleets = fleetSpecs(SIZE.gateway.devices);
  return startEmulatorBroker(
    [...names.map(benchDevice), ...manyDeviceSpecs(Math.max(...SIZE.devices)), ...fleets.devices],
    fleets.products,
  );
}

async function main(): Promise<void> {
  const run = {
    mqtt: !only || only === 'devices',
    gateway: !only || only === 'gateway',
    amqp: !only || only === 'amqp',
    wave: !only || only === 'wave',
    signing: !only,
  };
  const results: BrokerResults[] = [];
  let gateway: GatewayResult | undefined;
  // The AMQP and wave scenarios start brokers of their own.
  const emulator = run.mqtt || run.gateway ? await mqttEmulator() : undefined;
  if (emulator) {
    if (run.mqtt) results.push(await runOn(emulator));
    if (run.gateway)
      gateway = await gatewayVsDirect(emulator, SIZE.gateway.devices, SIZE.gateway.messages, SIZE.rounds);
    await emulator.close();
  }
  const mosquitto = run.mqtt ? await startMosquitto() : undefined;
  if (mosquitto) {
    results.push(await runOn(mosquitto));
    await mosquitto.close();
  }
  const amqp = run.amqp ? await amqpThroughput(SIZE.amqp, SIZE.rounds) : undefined;
  // mosquitto is what vanishes: without it there is no wave.
  const wave: WaveResult | undefined =
    run.wave && existsSync(MOSQUITTO) ? await reconnectWave({ ...SIZE.wave, maxShareLimit: shareArg }) : undefined;
  const signatures = run.signing ? await signing(SIZE.signatures, SIZE.rounds) : undefined;

  const rows = results.flatMap((r) => [...rowsOf(r), []]);
  if (gateway) rows.push(...gatewayRows(gateway));
  if (gateway && amqp) rows.push([]);
  if (amqp) rows.push(...amqpRows(amqp));
  if (wave) rows.push([], ...waveRows(wave));
  if (signatures) rows.push([], ['signing', '', '', 'sig/s', '', '', 'spread']);
  for (const [method, f] of Object.entries(signatures ?? {}))
    rows.push([`signMqtt ${method}`, '', '', fmt(f.median), '', '', `${fmt(f.spread * 100)}%`]);

  const versions = {
    node: process.version,
    nodeRed: version('node-red'),
    mqtt: version('mqtt'),
    rhea: version('rhea'),
    brokers: [...(emulator ? [emulator] : []), ...(mosquitto ? [mosquitto] : [])].map((b) =>
      b.name === 'emulator' ? `emulator (aedes ${version('aedes')})` : 'mosquitto 2',
    ),
    cores: cpus().length,
  };
  const mode = `${quick ? 'quick' : 'full'}${only ? `, only ${only}` : ''}`;
  process.stdout.write(`\n${table(rows)}\n\n${JSON.stringify(versions)}  mode: ${mode}\n`);
  if (only) return;
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(root, 'bench', 'results', 'latest.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        mode: quick ? 'quick' : 'full',
        versions,
        results,
        gateway,
        amqp,
        wave,
        signing: signatures,
      },
      null,
      2,
    ),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
