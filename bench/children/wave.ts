// One side of the reconnect-wave scenario in an embedded Node-RED in a process of its own: D devices,
// each a config node with a publish and a subscribe node, either this package's (`ours`) or Node-RED's
// core mqtt nodes (`core`), against a mosquitto the parent kills and starts again. On the parent's
// commands (IPC) it reports when all are online, waits for all to notice the outage, hands every
// publish node one QoS 1 message while the broker is gone, then reports when all are connected again
// and what became of those messages (their done() calls).
// Arguments: ours|core host port count [login rate].
import { deployStarted, deviceNodes, node, startRuntime, stopRuntime } from '../lib/runtime';
import { sleep } from '../lib/stats';

/** What the parent asks of the child. */
export type WaveCommand =
  /** The broker is gone: wait for every device to notice, then queue the messages. */
  | { type: 'outage' }
  /** The broker is back since `at` (epoch ms): report when all are connected, by `at` + 2 min. */
  | { type: 'returned'; at: number }
  | { type: 'stop' };

export type WaveReply =
  /** `connectMs`: from the deploy until every device was connected. */
  | { type: 'online'; connectMs: number }
  /** `stillUp`: devices that still counted as connected when the messages were handed over. */
  | { type: 'queued'; stillUp: number; downMs: number }
  /** `allAt`: epoch ms when the last device was connected again; null: not by the deadline. */
  | { type: 'back'; allAt: number | null; at: number; connected: number; states: Record<string, number> }
  /** The outage messages' done(): without an error, with one, not called (yet). */
  | { type: 'settled'; ok: number; failed: number; pending: number };

interface Status {
  state: string;
}
interface Connection extends Status {
  on(event: 'state', listener: (s: Status) => void): void;
}
/** Node-RED's core mqtt-broker config node, as far as this file looks at it. */
interface CoreBroker {
  connected?: boolean;
  connecting?: boolean;
}
interface CompleteEvent {
  msg: Record<string, unknown>;
  node: { id: string };
  error?: unknown;
}

const [sideArg = 'ours', host = '127.0.0.1', port = '1883', countArg = '10', rateArg = ''] = process.argv.slice(2);
const side = sideArg === 'core' ? 'core' : 'ours';
const count = Number(countArg);
const broker = { host, ports: { mqtt: Number(port) } };
const device = (i: number) => ({ productKey: 'pkBench', deviceName: `wave-${i}`, deviceSecret: `wave-${i}-secret` });
const keys = Array.from({ length: count }, (_, i) => i);
/** How long the waits of this file give the side (the parent keeps deadlines of its own too). */
const CONNECT_MS = 300_000;
const BACK_MS = 120_000;
const DOWN_MS = 30_000;
const SETTLE_MS = 10_000;

function tell(reply: WaveReply): void {
  process.send?.(reply);
}

function flow(): Record<string, unknown>[] {
  return keys.flatMap((i) => deviceNodes(side, i, broker, device(i), 1));
}

/** How many devices are connected now, and a wait for a condition on that number. */
interface Tracker {
  online(): number;
  /** Resolves true once `done(online)` holds, false when `deadlineAt` (epoch ms) passes first. */
  until(done: (online: number) => boolean, deadlineAt: number): Promise<boolean>;
  /** Devices by state, for a report of those left behind. */
  states(): Record<string, number>;
}

/**
 * Ours, from the connections' state events (as children/fleet.ts does): the moment the last one
 * connects is the moment of its event, and nothing polls the side being measured.
 */
function ourTracker(): Tracker {
  const connections = keys.map((i) => {
    const config = node<{ connection?: Connection; problem?: string }>(`cfg${i}`);
    if (!config.connection) throw new Error(`cfg${i} has no connection: ${config.problem ?? ''}`);
    return config.connection;
  });
  const up = connections.map((c) => c.state === 'connected');
  let online = up.filter(Boolean).length;
  const waiters = new Set<() => void>();
  connections.forEach((c, i) =>
    c.on('state', (s) => {
      const now = s.state === 'connected';
      if (now === up[i]) return;
      up[i] = now;
      online += now ? 1 : -1;
      for (const check of waiters) check();
    }),
  );
  return {
    online: () => online,
    until: (done, deadlineAt) =>
      new Promise((resolve) => {
        const finish = (result: boolean) => {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(result);
        };
        const check = () => {
          if (done(online)) finish(true);
        };
        const timer = setTimeout(() => finish(false), Math.max(0, deadlineAt - Date.now()));
        waiters.add(check);
        check();
      }),
    states: () => {
      const states: Record<string, number> = {};
      for (const c of connections) states[c.state] = (states[c.state] ?? 0) + 1;
      return states;
    },
  };
}

/** Core's broker nodes have no event of their own for this: `.connected` polled every 50 ms. */
function coreTracker(): Tracker {
  const configs = keys.map((i) => node<CoreBroker>(`cfg${i}`));
  const online = () => configs.reduce((n, c) => n + (c.connected === true ? 1 : 0), 0);
  return {
    online,
    until: async (done, deadlineAt) => {
      while (!done(online())) {
        if (Date.now() >= deadlineAt) return false;
        await sleep(50);
      }
      return true;
    },
    states: () => {
      const states: Record<string, number> = {};
      for (const c of configs) {
        const state = c.connected === true ? 'connected' : c.connecting === true ? 'connecting' : 'disconnected';
        states[state] = (states[state] ?? 0) + 1;
      }
      return states;
    },
  };
}

/**
 * What became of the outage messages: one onComplete hook for all publish nodes (runtime.ts's
 * onComplete adds one per node, and 10,000 hooks would each see every completion).
 */
function settlements(): { ok: Set<number>; failed: Set<number> } {
  const ok = new Set<number>();
  const failed = new Set<number>();
  // The same module instance runtime.ts started.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const red = require('node-red') as { hooks: { add(name: string, hook: (event: CompleteEvent) => void): void } };
  red.hooks.add('onComplete.wave', (event) => {
    const outage = event.msg.waveOutage;
    if (typeof outage !== 'number' || event.node.id !== `pub${outage}`) return;
    (event.error === undefined ? ok : failed).add(outage);
  });
  return { ok, failed };
}

/** DEBUG_WAVE=1: the devices by state every second, on stderr. */
function progress(tracker: Tracker): NodeJS.Timeout | undefined {
  if (!process.env.DEBUG_WAVE) return undefined;
  const t0 = Date.now();
  const timer = setInterval(() => {
    process.stderr.write(`${side} ${Date.now() - t0} ms ${JSON.stringify(tracker.states())}\n`);
  }, 1000);
  timer.unref();
  return timer;
}

// The parent gone, nobody reads the results.
process.on('disconnect', () => process.exit(1));

void (async () => {
  await startRuntime(side === 'ours' && rateArg !== '' ? { aliyunIotDeviceLoginRate: Number(rateArg) } : {});
  const settled = settlements();
  const t0 = performance.now();
  await deployStarted(flow(), CONNECT_MS);
  const tracker = side === 'ours' ? ourTracker() : coreTracker();
  progress(tracker);
  if (!(await tracker.until((n) => n === count, Date.now() + CONNECT_MS)))
    throw new Error(`${side}: ${tracker.online()} of ${count} connected after ${CONNECT_MS} ms`);
  tell({ type: 'online', connectMs: performance.now() - t0 });

  const publishers = keys.map((i) => node(`pub${i}`));
  let returned: Promise<void> | undefined;
  process.on('message', (command: WaveCommand) => {
    if (command.type === 'outage') {
      void (async () => {
        const t = performance.now();
        // Handed over only once every device knows its broker is gone: a message given to a
        // device that still thinks it is connected measures the socket, not the offline queue.
        await tracker.until((n) => n === 0, Date.now() + DOWN_MS);
        const downMs = performance.now() - t;
        // All at once without yielding, as a flow's upstream node hands them over.
        for (const i of keys) publishers[i]!.receive({ payload: `wave:${i}`, waveOutage: i });
        tell({ type: 'queued', stillUp: tracker.online(), downMs });
      })();
    } else if (command.type === 'returned') {
      returned ??= (async () => {
        const all = await tracker.until((n) => n === count, command.at + BACK_MS);
        const at = Date.now();
        tell({ type: 'back', allAt: all ? at : null, at, connected: tracker.online(), states: tracker.states() });
        const end = Date.now() + SETTLE_MS;
        while (settled.ok.size + settled.failed.size < count && Date.now() < end) await sleep(50);
        const { ok, failed } = settled;
        tell({ type: 'settled', ok: ok.size, failed: failed.size, pending: count - ok.size - failed.size });
      })();
    } else {
      void deployStarted([])
        .then(stopRuntime)
        .finally(() => process.exit(0));
    }
  });
})().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
