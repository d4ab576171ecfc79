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
    if (t < this.nextAt) return false;
    // From now, not from the missed slot: a late timer never earns a burst.
    this.nextAt = t + this.intervalMs;
    return true;
  }

  /** Whether `take()` would succeed now, without booking the slot. */
  ready(): boolean {
    return this.intervalMs === 0 || this.now() >= this.nextAt;
  }

  /** Milliseconds until `take()` can succeed. */
  waitMs(): number {
    return Math.max(0, Math.ceil(this.nextAt - this.now()));
  }
}

/**
 * One pace shared by many senders (a gateway's sub-devices, PLATFORM.md §11): a sender that finds
 * no slot waits in line, and each slot goes to the longest waiting sender, so one timer serves
 * them all and no sender starves. Rate 0: no shared pace at all.
 */
export class SharedPace {
  private readonly pacer: Pacer;
  /** Senders waiting for a slot, in order; each is called once with its slot booked. */
  private readonly line = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(ratePerSecond: number, now: () => number = () => Date.now()) {
    this.pacer = new Pacer(ratePerSecond, now);
  }

  get ratePerSecond(): number {
    return this.pacer.ratePerSecond;
  }

  /** A slot now, unless none is free or others wait for one before this sender. */
  take(): boolean {
    return this.line.size === 0 && this.pacer.take();
  }

  /** Calls `turn` when its slot has come (booked); calling again while waiting keeps its place. */
  wait(turn: () => void): void {
    this.line.add(turn);
    this.arm();
  }

  /** A sender that stopped sending gives up its place. */
  leave(turn: () => void): void {
    this.line.delete(turn);
    if (this.line.size === 0) this.stop();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer || this.line.size === 0) return;
    this.timer = setTimeout(() => this.next(), this.pacer.waitMs());
  }

  private next(): void {
    this.timer = undefined;
    const [turn] = this.line;
    if (turn && this.pacer.take()) {
      this.line.delete(turn);
      turn();
    }
    this.arm();
  }
}
