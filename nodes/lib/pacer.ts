// Upstream pacing: the platform drops what a device sends beyond its per-device rate (30/s), so
// messages are spaced evenly instead; never more than the rate in any one-second window.

export class Pacer {
  private nextAt = 0;
  private readonly intervalMs: number;

  /** @param ratePerSecond 0 switches pacing off. */
  constructor(
    readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.intervalMs = ratePerSecond > 0 ? 1000 / ratePerSecond : 0;
  }

  /** True, and the slot is booked, when a message may go now. */
  take(): boolean {
    if (this.intervalMs === 0) return true;
    const t = this.now();
    if (t < this.slot(t)) return false;
    // From now, not from the missed slot: a late timer never earns a burst.
    this.nextAt = t + this.intervalMs;
    return true;
  }

  /** Whether `take()` would succeed now, without booking the slot. */
  ready(): boolean {
    if (this.intervalMs === 0) return true;
    const t = this.now();
    return t >= this.slot(t);
  }

  /** Milliseconds until `take()` can succeed. */
  waitMs(): number {
    const t = this.now();
    return Math.max(0, Math.ceil(this.slot(t) - t));
  }

  /**
   * The next free slot. One booked further ahead than an interval means the clock was set back
   * (the wall clock after an NTP step): the device would hold every message until the clock
   * caught up, so the slot is now instead.
   */
  private slot(t: number): number {
    if (this.nextAt - t > this.intervalMs) this.nextAt = t;
    return this.nextAt;
  }
}

/** Called once when a sender's slot has come (the slot already taken for it). */
type Turn = () => void;

/**
 * One pace shared by many senders: a gateway's sub-devices (PLATFORM.md §11) and every direct
 * device login of the process (./login-pace.ts). A token bucket: `rate` tokens a second, at most a
 * hundredth of a second's worth saved up (at least one), so no one-second window ever holds more
 * than 1.01 x rate, and no burst is bigger than 10 ms of them. A sender that finds no token waits in
 * line; each release goes to the longest waiting, so none starves. One timer serves the whole line
 * and lets through as many as the tokens allow each time it fires: one slot per firing could not
 * reach 1,000/s. Rate 0: no pace at all.
 */
export class SharedPace {
  private rate = 0;
  private tokens = 0;
  private capacity = 1;
  private last: number;
  private readonly line = new Set<Turn>();
  private timer: NodeJS.Timeout | undefined;
  /** Slots handed out, for diagnostics and tests. */
  admitted = 0;

  constructor(
    ratePerSecond: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.last = now();
    this.configure(ratePerSecond);
  }

  get ratePerSecond(): number {
    return this.rate;
  }

  /** Senders waiting for their turn. */
  get waiting(): number {
    return this.line.size;
  }

  /** A new rate from now on (settings.js is read when the nodes load); the bucket starts full. */
  configure(ratePerSecond: number): void {
    this.rate = Number.isFinite(ratePerSecond) && ratePerSecond > 0 ? ratePerSecond : 0;
    this.capacity = Math.max(1, this.rate / 100);
    this.tokens = this.capacity;
    this.last = this.now();
    // Those waiting are served at the new rate, not after a wait timed for the old one.
    this.stop();
    if (this.rate === 0) this.release(this.line.size);
    else this.arm();
  }

  /** A slot now (taken), unless none is free or others wait for one before this sender. */
  take(): boolean {
    if (this.rate === 0) {
      this.admitted++;
      return true;
    }
    // Those already waiting go first. Letting them through here, not only from the timer, keeps
    // the pace while a deploy holds the event loop for seconds creating nodes (no timer fires).
    this.drain();
    if (this.line.size > 0 || this.tokens < 1) return false;
    this.tokens--;
    this.admitted++;
    return true;
  }

  /** Whether `turn` waits in line for its slot. */
  waits(turn: Turn): boolean {
    return this.line.has(turn);
  }

  /** Calls `turn` when its slot has come; calling again while waiting keeps its place. */
  wait(turn: Turn): void {
    this.line.add(turn);
    this.arm();
  }

  /** True: go now (the slot is taken). False: `turn` is called once its slot has come. */
  admit(turn: Turn): boolean {
    if (this.take()) return true;
    this.wait(turn);
    return false;
  }

  /** A sender that stopped sending gives up its place. */
  leave(turn: Turn): void {
    this.line.delete(turn);
    if (this.line.size === 0) this.stop();
  }

  /** No timer any more; those still in line wait for the next `take` or `wait`. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(): void {
    const t = this.now();
    // A clock set back earns nothing and costs nothing: the bucket goes on from the new time.
    const elapsed = Math.max(0, t - this.last);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.rate) / 1000);
    this.last = t;
  }

  private arm(): void {
    if (this.timer || this.line.size === 0) return;
    const wait = this.rate === 0 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.rate);
    this.timer = setTimeout(() => this.fire(), Math.max(1, wait));
    // Waiting senders alone do not keep a process alive.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.drain();
    this.arm();
  }

  /** Lets as many through as the tokens allow. */
  private drain(): void {
    this.refill();
    if (this.line.size === 0) return;
    const n = Math.min(this.line.size, Math.floor(this.tokens));
    this.tokens -= n;
    this.release(n);
  }

  /**
   * Lets the first `n` in line through, in order; a turn that throws does not stop the others. A
   * turn that waits again goes to the back of the line.
   */
  private release(n: number): void {
    let left = n;
    for (const turn of this.line) {
      if (left-- <= 0) break;
      this.line.delete(turn);
      this.admitted++;
      try {
        turn();
      } catch {
        // A turn reports its own failures (a connection's start(), a sub-device's send).
      }
    }
  }
}
