// 8. A reconnect wave: D devices (a config, a publish and a subscribe node each) of this package and of
// Node-RED's core mqtt nodes, each side in an embedded Node-RED in its own process
// (children/wave.ts), connected to a mosquitto that is killed (SIGKILL) and started again on the
// same port after `outageMs`. What the return costs: the time until every device is connected
// again (and how many are not 2 minutes on), the logins mosquitto saw per second from its return
// (its connection log: does the fleet come back in one burst?), and how many of the QoS 1 messages
// handed to the publish nodes during the outage reach the broker afterwards.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { MOSQUITTO } from '../lib/brokers';
import { sleep } from '../lib/stats';
import * as nr from '../../scripts/node-red-process';
import type { WaveCommand, WaveReply } from '../children/wave';

export interface WaveSide {
  devices: number;
  /** From the deploy until every device was connected, before the outage. */
  connectMs: number;
  /** From the broker's return until every device was connected again; with some left behind, the deadline's. */
  backMs: number;
  /** Devices not connected 2 minutes after the return. */
  leftBehind: number;
  /** Successful MQTT CONNECTs mosquitto logged from its return on. */
  logins: number;
  /** Those logins per second, from the second of the return (mosquitto's log has whole seconds). */
  perSecond: number[];
  /** The busiest second's share of `logins`. */
  maxShare: number;
  withinShare: boolean;
  /** Devices whose message handed over during the outage reached the broker after the return. */
  queuedDelivered: number;
}

export interface WaveResult {
  devices: number;
  outageMs: number;
  maxShareLimit: number;
  ours: WaveSide;
  core: WaveSide;
}

type SideName = 'ours' | 'core';

/** After the return, how long the devices have to be connected again before they count as left behind. */
const BACK_MS = 120_000;
/** The child's own settle wait for the outage messages (children/wave.ts), and some room for IPC. */
const SETTLE_MS = 10_000 + 5_000;
/** After the child's account of the messages, how long the watcher may lag behind it. */
const ARRIVE_MS = 5_000;
const WATCHER_ID = 'wave-bench-watcher';

/**
 * One mosquitto that can be killed and started again on the same port with the same config. It logs
 * every login with its time (in whole seconds) to a file: the per-second histogram comes from there,
 * as the broker saw them. Persistence keeps the watcher's session (and its subscription) across the
 * kill, so messages that arrive before the watcher has logged in again are kept for it: no device,
 * however quick, can publish before the watcher is subscribed.
 */
class Mosquitto {
  private process: ChildProcess | undefined;
  private stderr = '';
  readonly log: string;
  readonly db: string;
  private readonly conf: string;

  private constructor(
    readonly port: number,
    dir: string,
  ) {
    this.log = join(dir, 'mosquitto.log');
    this.db = join(dir, 'mosquitto.db');
    this.conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      this.conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'max_queued_messages 100000',
        'set_tcp_nodelay true',
        'max_connections -1',
        `log_dest file ${this.log}`,
        'log_type notice',
        'connection_messages true',
        'log_timestamp true',
        // Run as root, mosquitto switches to the `mosquitto` user, who cannot write this directory.
        `user ${userInfo().username}`,
        'persistence true',
        `persistence_location ${dir}/`,
        // Saved every second or two: the watcher's subscription is on disk before the kill.
        'autosave_interval 1',
        '',
      ].join('\n'),
    );
  }

  static async create(): Promise<Mosquitto> {
    return new Mosquitto(await nr.freePort(), mkdtempSync(join(tmpdir(), 'aliyun-iot-wave-')));
  }

  /** Starts it; resolves with the time (epoch ms) it first accepted a connection. */
  async start(timeoutMs = 10_000): Promise<number> {
    this.stderr = '';
    const child = spawn(MOSQUITTO, ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    child.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`mosquitto exited (${child.exitCode ?? child.signalCode ?? ''}): ${this.stderr}`);
      if (await accepts(this.port)) return Date.now();
      await sleep(20);
    }
    await this.kill('SIGKILL');
    throw new Error(`bench: mosquitto not accepting on ${this.port} after ${timeoutMs} ms: ${this.stderr}`);
  }

  /** Ends it and waits for its exit (5 s, then SIGKILL). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** For the parent's exit: no waiting possible there. */
  killNow(): void {
    this.process?.kill('SIGKILL');
  }

  /** Where the log ends now: what the next run of the broker logs comes after it. */
  logSize(): number {
    return statSync(this.log, { throwIfNoEntry: false })?.size ?? 0;
  }

  /** The logins (client ids and epoch seconds) logged after `offset`. */
  logins(offset: number): { second: number; clientId: string }[] {
    const text = readFileSync(this.log).subarray(offset).toString();
    // Not anchored at a line's start: mosquitto writes some warnings without a line break before them.
    return [...text.matchAll(/(\d+): New client connected from \S+ as (\S+) \(p\d/g)].map((m) => ({
      second: Number(m[1]),
      clientId: m[2] ?? '',
    }));
  }

  /** The database file's modification time (ms), 0 while there is none. */
  dbSaved(): number {
    return statSync(this.db, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  }
}

/** True once a TCP connection to the port succeeds (it is closed again at once). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: '127.0.0.1' });
    socket.setTimeout(1000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** The watcher's persistent session: its subscription survives the broker's restart. */
async function watcherSession(port: number): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: WATCHER_ID,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
  await client.subscribeAsync('/+/+/user/update', { qos: 1 });
  return client;
}

/**
 * The watcher again after the return, counting the outage messages per device. The listener is
 * there before the CONNACK: what the session kept comes right behind it.
 */
function watchOutageMessages(port: number, delivered: Set<number>, timeoutMs = 10_000): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: WATCHER_ID,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  client.on('message', (_topic: string, payload: Buffer) => {
    const marker = /^wave:(\d+)$/.exec(payload.toString());
    if (marker) delivered.add(Number(marker[1]));
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => reject(err));
    client.once('close', () => reject(new Error('bench: the watcher could not log in again')));
  });
}

/** Resolves true once `check()` holds, polling every 50 ms; false when `timeoutMs` passes first. */
async function poll(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= end) return false;
    await sleep(50);
  }
  return true;
}

/** The child of one side, spoken to over IPC. */
class WaveChild {
  private readonly child: ChildProcess;
  /** The end of what the child printed (Node-RED logs its errors on stdout), for a failure's message. */
  private output = '';
  private readonly exited: Promise<never>;

  constructor(side: SideName, port: number, count: number, loginRate: number | undefined) {
    this.child = fork(
      join(__dirname, '..', 'children', 'wave.ts'),
      [side, '127.0.0.1', String(port), String(count), loginRate === undefined ? '' : String(loginRate)],
      { cwd: join(__dirname, '..', '..'), execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    );
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    if (process.env.DEBUG_WAVE) this.child.stderr?.pipe(process.stderr);
    this.exited = new Promise((_, reject) =>
      this.child.once('exit', (code) => reject(new Error(`wave.ts ${side} exited (${code}):\n${this.output}`))),
    );
    // The failure is told by whoever waits for a reply; this only keeps it from going unhandled.
    this.exited.catch(() => undefined);
  }

  next<T extends WaveReply['type']>(type: T, timeoutMs: number): Promise<Extract<WaveReply, { type: T }>> {
    let listener: ((message: WaveReply) => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const reply = new Promise<Extract<WaveReply, { type: T }>>((resolve, reject) => {
      listener = (message: WaveReply) => {
        if (message.type === type) resolve(message as Extract<WaveReply, { type: T }>);
      };
      this.child.on('message', listener);
      timer = setTimeout(() => reject(new Error(`bench: no '${type}' from wave.ts in ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([reply, this.exited]).finally(() => {
      clearTimeout(timer);
      if (listener) this.child.off('message', listener);
    });
  }

  command(command: WaveCommand): void {
    // A child that died has no channel left; what waits for its reply hears of the exit.
    if (this.child.connected) this.child.send(command);
  }

  /** Asks the child to undeploy and exit; one that does not within 30 s is killed. */
  async stop(): Promise<void> {
    this.command({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited.catch(() => undefined);
    clearTimeout(timer);
  }
}

async function side(
  name: SideName,
  count: number,
  outageMs: number,
  maxShareLimit: number,
  loginRate: number | undefined,
): Promise<WaveSide> {
  const broker = await Mosquitto.create();
  // A parent that exits on an error it did not get to clean up after takes the broker with it.
  const onExit = () => broker.killNow();
  process.once('exit', onExit);
  let child: WaveChild | undefined;
  const watchers: MqttClient[] = [];
  try {
    await broker.start();
    const first = await watcherSession(broker.port);
    watchers.push(first);
    // The subscription on disk: any save that ends after the SUBACK holds it.
    const before = broker.dbSaved();
    if (!(await poll(() => broker.dbSaved() !== before, 10_000)))
      throw new Error('bench: mosquitto did not save its database within 10 s');

    child = new WaveChild(name, broker.port, count, loginRate);
    const { connectMs } = await child.next('online', 300_000 + 30_000);

    const killedAt = Date.now();
    await broker.kill('SIGKILL');
    first.end(true);
    child.command({ type: 'outage' });
    const queued = await child.next('queued', 60_000);
    if (queued.stillUp > 0) throw new Error(`bench: ${queued.stillUp} ${name} devices still connected in the outage`);
    // The outage itself, the one fixed wait.
    await sleep(Math.max(0, killedAt + outageMs - Date.now()));

    const offset = broker.logSize();
    const returnedAt = await broker.start();
    const delivered = new Set<number>();
    watchers.push(await watchOutageMessages(broker.port, delivered));
    child.command({ type: 'returned', at: returnedAt });
    const back = await child.next('back', BACK_MS + 30_000);
    const settled = await child.next('settled', SETTLE_MS);
    // What the broker acknowledged is on its way to the watcher, if not there yet.
    await poll(() => delivered.size >= Math.min(count, settled.ok) || delivered.size === count, ARRIVE_MS);
    if (process.env.DEBUG_WAVE)
      process.stderr.write(`${name}: ${JSON.stringify({ queued, back, settled, delivered: delivered.size })}\n`);

    const base = Math.floor(returnedAt / 1000);
    const perSecond: number[] = [];
    for (const login of broker.logins(offset)) {
      if (login.clientId === WATCHER_ID) continue;
      const s = Math.max(0, login.second - base);
      while (perSecond.length <= s) perSecond.push(0);
      perSecond[s]!++;
    }
    const logins = perSecond.reduce((a, b) => a + b, 0);
    const maxShare = logins ? Math.max(...perSecond) / logins : 0;
    return {
      devices: count,
      connectMs,
      backMs: (back.allAt ?? back.at) - returnedAt,
      leftBehind: count - back.connected,
      logins,
      perSecond,
      maxShare,
      withinShare: maxShare <= maxShareLimit,
      queuedDelivered: delivered.size,
    };
  } finally {
    await child?.stop();
    for (const w of watchers) w.end(true);
    await broker.kill('SIGTERM');
    process.off('exit', onExit);
  }
}

export async function reconnectWave(opts: {
  devices: number;
  outageMs: number;
  maxShareLimit?: number;
  loginRate?: number;
}): Promise<WaveResult> {
  const { devices, outageMs, maxShareLimit = 0.25, loginRate } = opts;
  const ours = await side('ours', devices, outageMs, maxShareLimit, loginRate);
  const core = await side('core', devices, outageMs, maxShareLimit, loginRate);
  return { devices, outageMs, maxShareLimit, ours, core };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Seconds of the histogram shown in its row. */
const HISTOGRAM_SECONDS = 20;

export function waveRows(w: WaveResult): string[][] {
  const { core, ours } = w;
  const ratio = (a: number, b: number) => (b ? fmt(a / b, 2) : '');
  const back = (s: WaveSide) => (s.leftBehind ? `> ${fmt(BACK_MS)}` : fmt(s.backMs));
  const share = (s: WaveSide) => `${fmt(s.maxShare * 100)}%`;
  const within = (s: WaveSide) => (s.withinShare ? 'within' : 'over');
  const histogram = (s: WaveSide) => s.perSecond.slice(0, HISTOGRAM_SECONDS).join(',');
  const longer = [core, ours].some((s) => s.perSecond.length > HISTOGRAM_SECONDS)
    ? `first ${HISTOGRAM_SECONDS} s shown`
    : '';
  return [
    ['reconnect wave on mosquitto', '', 'core mqtt nodes', 'aliyun-iot', '', 'ours/core', ''],
    ['devices', '', fmt(w.devices), fmt(w.devices), '', '', `outage ${fmt(w.outageMs)} ms (SIGKILL)`],
    [
      'time to all connected before the outage (ms)',
      '',
      fmt(core.connectMs),
      fmt(ours.connectMs),
      '',
      ratio(ours.connectMs, core.connectMs),
      '',
    ],
    [
      'time back: all connected after the return (ms)',
      '',
      back(core),
      back(ours),
      '',
      core.leftBehind || ours.leftBehind ? '' : ratio(ours.backMs, core.backMs),
      '',
    ],
    ['left behind 2 min after the return', '', fmt(core.leftBehind), fmt(ours.leftBehind), '', '', ''],
    ['logins after the return', '', fmt(core.logins), fmt(ours.logins), '', ratio(ours.logins, core.logins), ''],
    [
      'busiest second, share of those logins',
      '',
      share(core),
      share(ours),
      '',
      ratio(ours.maxShare, core.maxShare),
      `limit ${fmt(w.maxShareLimit * 100)}%: core ${within(core)}, ours ${within(ours)}`,
    ],
    ['logins per second from the return', '', histogram(core), histogram(ours), '', '', longer],
    [
      'queued during the outage, delivered after',
      '',
      `${fmt(core.queuedDelivered)} of ${fmt(w.devices)}`,
      `${fmt(ours.queuedDelivered)} of ${fmt(w.devices)}`,
      '',
      ratio(ours.queuedDelivered, core.queuedDelivered),
      'QoS 1, 1 per device',
    ],
  ];
}
