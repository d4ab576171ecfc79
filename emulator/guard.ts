// Bounds guessing, as the platform throttles abusive clients: failed MQTT logins, failed HTTPS device
// calls, refused API tokens and refused OpenAPI signatures are counted per remote address in a
// sliding window; past the limit, every further attempt of that kind from that address waits before
// it is answered, the wait doubling with each failure up to a cap. Other addresses are not affected.

export type GuessKind = 'mqtt' | 'https' | 'api';
export const GUESS_KINDS: readonly GuessKind[] = ['mqtt', 'https', 'api'];

export interface GuessingLimits {
  /** Failures per address and kind within the window before attempts are slowed down (10). */
  maxFailures?: number;
  /** The sliding window in ms (60 s). */
  windowMs?: number;
  /** The first delay once over the limit, doubled per further failure (1 s). */
  delayMs?: number;
  /** The longest delay (30 s). */
  maxDelayMs?: number;
}

export const DEFAULT_GUESSING_LIMITS: Readonly<Required<GuessingLimits>> = {
  maxFailures: 10,
  windowMs: 60_000,
  delayMs: 1000,
  maxDelayMs: 30_000,
};

export interface GuessingStats {
  /** False on a loopback listener unless limits were given: failures are then counted, never delayed. */
  enabled: boolean;
  limits: Required<GuessingLimits>;
  /** Failed attempts, cumulative. */
  failures: Record<GuessKind, number>;
  /** Attempts that were delayed, cumulative. */
  throttled: Record<GuessKind, number>;
  /** Addresses over the limit now. */
  throttledAddresses: Record<GuessKind, string[]>;
}

const LABEL: Record<GuessKind, string> = {
  mqtt: 'MQTT logins',
  https: 'HTTPS device calls',
  api: 'cloud API calls (bad token, AccessKey or signature)',
};

/** Above this many tracked addresses, expired ones are swept on the next failure. */
const SWEEP_AT = 1024;

export function guessingLimits(given: GuessingLimits): Required<GuessingLimits> {
  const limits = { ...DEFAULT_GUESSING_LIMITS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < (name === 'delayMs' || name === 'maxDelayMs' ? 0 : 1))
      throw new Error(`guessing.${name} must be a whole number${name.endsWith('Ms') ? ' of ms' : ''}, got ${value}`);
  }
  return limits;
}

const perKind = <T>(make: () => T): Record<GuessKind, T> => ({ mqtt: make(), https: make(), api: make() });

export class GuessGuard {
  /** Failure times per `kind address`, oldest first, within the window. */
  private readonly recent = new Map<string, number[]>();
  /** Pending delays, so close() can end them. */
  private readonly waiting = new Map<NodeJS.Timeout, (go: boolean) => void>();
  private readonly failures = perKind(() => 0);
  private readonly throttled = perKind(() => 0);
  private readonly limits: Required<GuessingLimits>;
  private closed = false;

  constructor(
    limits: Required<GuessingLimits>,
    /** False: count failures, delay nothing. */
    private readonly enabled: boolean,
    private readonly log: (line: string) => void,
  ) {
    this.limits = limits;
  }

  private window(key: string, now: number): number[] {
    const list = this.recent.get(key);
    if (!list) return [];
    const from = now - this.limits.windowMs;
    while (list.length > 0 && (list[0] ?? 0) <= from) list.shift();
    if (list.length === 0) this.recent.delete(key);
    return list;
  }

  /** How long an attempt from this address waits before it is handled; 0 under the limit. */
  delayFor(kind: GuessKind, address: string, now = Date.now()): number {
    if (!this.enabled) return 0;
    const over = this.window(`${kind} ${address}`, now).length - this.limits.maxFailures;
    return over < 0 ? 0 : Math.min(this.limits.delayMs * 2 ** over, this.limits.maxDelayMs);
  }

  /**
   * Calls `go(true)` when the attempt may be handled: at once under the limit (synchronously, so
   * nothing changes for a client that does not guess), later over it; `go(false)` if the emulator
   * closes meanwhile.
   */
  admit(kind: GuessKind, address: string, go: (ok: boolean) => void): void {
    if (this.closed) return go(false);
    const delay = this.delayFor(kind, address);
    if (delay === 0) return go(true);
    this.throttled[kind]++;
    const timer = setTimeout(() => {
      this.waiting.delete(timer);
      go(true);
    }, delay);
    // A waiting guesser must not keep the process alive.
    timer.unref();
    this.waiting.set(timer, go);
  }

  admitted(kind: GuessKind, address: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.admit(kind, address, resolve);
    });
  }

  fail(kind: GuessKind, address: string, now = Date.now()): void {
    this.failures[kind]++;
    const key = `${kind} ${address}`;
    const list = this.window(key, now);
    if (list.length === 0) this.recent.set(key, list);
    list.push(now);
    // Enough entries to reach the cap of the doubling; older ones change nothing.
    if (list.length > this.limits.maxFailures + 40) list.shift();
    if (this.enabled && list.length === this.limits.maxFailures) {
      this.log(
        `aliyun-iot-emulator: ${list.length} failed ${LABEL[kind]} from ${address} within ${this.limits.windowMs / 1000} s; its further attempts are slowed down`,
      );
    }
    if (this.recent.size > SWEEP_AT) for (const k of [...this.recent.keys()]) this.window(k, now);
  }

  stats(now = Date.now()): GuessingStats {
    const throttledAddresses = perKind<string[]>(() => []);
    for (const key of [...this.recent.keys()]) {
      const [kind, address = ''] = key.split(/ (.*)/) as [GuessKind, string?];
      if (this.enabled && this.window(key, now).length >= this.limits.maxFailures)
        throttledAddresses[kind].push(address);
    }
    return {
      enabled: this.enabled,
      limits: { ...this.limits },
      failures: { ...this.failures },
      throttled: { ...this.throttled },
      throttledAddresses,
    };
  }

  /** Ends every delay: the waiting attempts are dropped, not answered. */
  close(): void {
    this.closed = true;
    for (const [timer, go] of this.waiting) {
      clearTimeout(timer);
      go(false);
    }
    this.waiting.clear();
  }
}
