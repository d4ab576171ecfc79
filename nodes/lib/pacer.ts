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

  /** Milliseconds until `take()` can succeed. */
  waitMs(): number {
    return Math.max(0, Math.ceil(this.nextAt - this.now()));
  }
}
