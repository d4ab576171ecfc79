// One pace for every direct device login in this process: a deploy of 10,000 devices, or 10,000
// devices coming back after their broker returned, log in at most `rate` per second instead of all
// in the same instant, which is what an account's connect limit (the platform's
// AccountConnectQPSLimit throttling event; no figure is published for direct devices) and the
// auth service behind it see. Sub-devices are paced by their gateway (200/s, PLATFORM.md §11).
//
// A token bucket: `rate` tokens a second, at most a hundredth of a second's worth saved up, so no
// one-second window ever holds more than 1.01 x rate logins, and no burst is bigger than 10 ms of
// them (a broker's accept queue drops what comes faster, and each drop costs a 1 s SYN retry).
// Logins that find no token wait in line and are let through in arrival order; one timer serves
// the whole line, letting through as many as the tokens allow each time it fires (a timer per
// login, as SharedPace in ./pacer.ts has, could not reach 1,000/s).

/**
 * The default, in logins per second (settings.js `aliyunIotDeviceLoginRate`). UNVERIFIED: the
 * platform publishes no account-wide connect rate for direct devices; the only documented login
 * rate is 200/s per gateway for its sub-devices. 2,000/s keeps a deploy or a return of 10,000
 * devices to about five seconds, no slower than this machine can sign and dial them, while
 * never letting a whole fleet log in within the same instant.
 */
export const DEFAULT_LOGIN_RATE = 2000;

export type Turn = () => void;

export class LoginPace {
  private tokens = 0;
  private capacity = 1;
  private last: number;
  private readonly line = new Set<Turn>();
  private timer: NodeJS.Timeout | undefined;
  /** Logins let through, for diagnostics and tests. */
  admitted = 0;

  /** @param rate logins per second; 0 switches pacing off. */
  constructor(
    private rate = DEFAULT_LOGIN_RATE,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now();
    this.configure(rate);
  }

  get ratePerSecond(): number {
    return this.rate;
  }

  /** Logins waiting for their turn. */
  get waiting(): number {
    return this.line.size;
  }

  /** A new rate from now on (settings.js is read when the nodes load); the bucket starts full. */
  configure(rate: number): void {
    this.rate = Number.isFinite(rate) && rate > 0 ? rate : 0;
    this.capacity = Math.max(1, this.rate / 100);
    this.tokens = this.capacity;
    this.last = this.now();
    if (this.rate === 0) this.release(this.line.size);
  }

  /**
   * True: log in now (the slot is taken). False: `turn` is called once its slot has come; asking
   * again while waiting keeps the place in line.
   */
  admit(turn: Turn): boolean {
    if (this.rate === 0) {
      this.admitted++;
      return true;
    }
    // Those already waiting go first. Letting them through here, not only from the timer, keeps
    // the pace while a deploy holds the event loop for seconds creating nodes (no timer fires).
    this.drain();
    if (this.line.size === 0 && this.tokens >= 1) {
      this.tokens--;
      this.admitted++;
      return true;
    }
    this.line.add(turn);
    this.arm();
    return false;
  }

  /** A login that is no longer wanted (closed, disconnected) gives up its place. */
  leave(turn: Turn): void {
    this.line.delete(turn);
    if (this.line.size === 0) this.disarm();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }

  private arm(): void {
    if (this.timer || this.line.size === 0) return;
    const wait = this.rate === 0 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.rate);
    this.timer = setTimeout(() => this.fire(), Math.max(1, wait));
    // Waiting logins alone do not keep a process alive.
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
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

  /** Lets the first `n` in line through, in order; a turn that throws does not stop the others. */
  private release(n: number): void {
    let left = n;
    for (const turn of this.line) {
      if (left-- <= 0) break;
      this.line.delete(turn);
      this.admitted++;
      try {
        turn();
      } catch {
        // A turn is the connection's own start(), which reports its failures itself.
      }
    }
  }
}

/** The pace every node file shares; the device config node sets its rate from settings.js. */
export const sharedLoginPace = new LoginPace();
