// 6. A gateway with N sub-devices against N direct devices, each side in an embedded Node-RED in its
// own process (children/fleet.ts) so its memory is its own: time from deploy until all are online,
// memory per device, and upstream msg/s when every device sends M QoS 0 messages at once, timed
// here until the broker (the emulator only: mosquitto has no gateways) has received every one.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchBroker } from '../lib/brokers';
import { fleet, type FleetCommand, type FleetMode, type FleetOnline, type FleetReply } from '../lib/fleet';
import { figure, measure, until, type Figure } from '../lib/stats';

export interface GatewaySide {
  devices: number;
  connectMs: number;
  rssPerDevice: number;
  heapPerDevice: number;
  /** State changes to a failure (a refused login, a kick) on the way to all online. */
  setbacks: number;
  /** Messages per second from the command to inject until the broker had them all. */
  throughput: Figure;
  /** How long the child's synchronous loop took to hand the messages to the publish nodes. */
  injectMs: Figure;
}

export interface GatewayResult {
  devices: number;
  messagesPerDevice: number;
  sub: GatewaySide;
  direct: GatewaySide;
  /** Direct devices over TLS, the default transport. */
  directTls: GatewaySide;
  /** Sub-device / direct device over TLS (the default), the target at most 0.25. */
  rssRatioTls: number;
  /** Sub-device / direct device over TCP: the floor, with no TLS to save. */
  rssRatio: number;
  heapRatio: number;
  connectRatio: number;
  throughputRatio: number;
}

/** The child of one side, spoken to over IPC. */
class Side {
  private readonly child: ChildProcess;
  /** The end of what the child printed (Node-RED logs its errors on stdout), for a failure's message. */
  private output = '';
  private readonly exited: Promise<never>;

  constructor(emu: BenchBroker, mode: FleetMode, count: number) {
    const root = join(__dirname, '..', '..');
    // The TLS side trusts the emulator's CA, handed over as a file.
    const tls: string[] = [];
    if (mode === 'direct-tls') {
      if (!emu.ports.mqtts || !emu.ca) throw new Error(`${emu.name} has no TLS port`);
      const caFile = join(mkdtempSync(join(tmpdir(), 'aliyun-iot-bench-')), 'ca.pem');
      writeFileSync(caFile, emu.ca);
      tls.push(String(emu.ports.mqtts), caFile);
    }
    this.child = fork(
      join(__dirname, '..', 'children', 'fleet.ts'),
      [emu.host, String(emu.ports.mqtt), String(count), mode, ...tls],
      { cwd: root, execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    );
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((_, reject) =>
      this.child.once('exit', (code) => reject(new Error(`fleet.ts ${mode} exited (${code}):\n${this.output}`))),
    );
    // The failure is told by whoever waits for a reply; this only keeps it from going unhandled.
    this.exited.catch(() => undefined);
  }

  next<T extends FleetReply['type']>(type: T): Promise<Extract<FleetReply, { type: T }>> {
    const reply = new Promise<Extract<FleetReply, { type: T }>>((resolve) => {
      const listener = (message: FleetReply) => {
        if (message.type !== type) return;
        this.child.off('message', listener);
        resolve(message as Extract<FleetReply, { type: T }>);
      };
      this.child.on('message', listener);
    });
    return Promise.race([reply, this.exited]);
  }

  command(command: FleetCommand): void {
    // A child that died has no channel left; what waits for its reply hears of the exit.
    if (this.child.connected) this.child.send(command);
  }

  /** Asks the child to undeploy and exit; one that does not within 30 s is killed. */
  async stop(): Promise<void> {
    this.command({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill(), 30_000);
    await this.exited.catch(() => undefined);
    clearTimeout(timer);
  }
}

/** Waits until the broker has `perDevice` more messages from every device than at `base`. */
async function arrived(emu: BenchBroker, mode: FleetMode, count: number, base: number[], perDevice: number) {
  const devices = fleet(mode, count);
  // Devices still short of their messages: each check looks only at those, so it gets cheaper.
  const pending = devices.map((_, i) => i);
  const short = (i: number) => emu.received(devices[i]!) - base[i]! < perDevice;
  try {
    await until(
      () => {
        let n = pending.length;
        for (let k = 0; k < n;) {
          if (short(pending[k]!)) k++;
          else pending[k] = pending[--n]!;
        }
        pending.length = n;
        return n === 0;
      },
      120_000,
      'broker to receive every message',
    );
  } catch (err) {
    const missing = pending.reduce((sum, i) => sum + perDevice - (emu.received(devices[i]!) - base[i]!), 0);
    throw new Error(`${(err as Error).message}: ${pending.length} ${mode} devices short, ${missing} messages`);
  }
}

async function side(
  emu: BenchBroker,
  mode: FleetMode,
  count: number,
  perDevice: number,
  rounds: number,
): Promise<GatewaySide> {
  const child = new Side(emu, mode, count);
  try {
    const online: FleetOnline = await child.next('online');
    const devices = fleet(mode, count);
    const injected: number[] = [];
    const throughput = await measure(rounds, async () => {
      const base = devices.map((d) => emu.received(d));
      const t0 = performance.now();
      const sent = child.next('sent');
      child.command({ type: 'send', perDevice });
      injected.push((await sent).injectMs);
      await arrived(emu, mode, count, base, perDevice);
      return (count * perDevice) / ((performance.now() - t0) / 1000);
    });
    const { connectMs, rssPerDevice, heapPerDevice, setbacks } = online;
    // The first round is measure()'s warm-up.
    return {
      devices: count,
      connectMs,
      rssPerDevice,
      heapPerDevice,
      setbacks,
      throughput,
      injectMs: figure(injected.slice(1)),
    };
  } finally {
    await child.stop();
  }
}

export async function gatewayVsDirect(
  emu: BenchBroker,
  count: number,
  perDevice: number,
  rounds: number,
): Promise<GatewayResult> {
  const sub = await side(emu, 'sub', count, perDevice, rounds);
  const direct = await side(emu, 'direct', count, perDevice, rounds);
  const directTls = await side(emu, 'direct-tls', count, perDevice, rounds);
  const ratio = (a: number, b: number) => (b ? a / b : 0);
  return {
    devices: count,
    messagesPerDevice: perDevice,
    sub,
    direct,
    directTls,
    rssRatioTls: ratio(sub.rssPerDevice, directTls.rssPerDevice),
    rssRatio: ratio(sub.rssPerDevice, direct.rssPerDevice),
    heapRatio: ratio(sub.heapPerDevice, direct.heapPerDevice),
    connectRatio: ratio(sub.connectMs, direct.connectMs),
    throughputRatio: ratio(sub.throughput.median, direct.throughput.median),
  };
}
