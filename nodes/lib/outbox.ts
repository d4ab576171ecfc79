// Publishes that are not settled yet: queued while offline (bounded), or sent at QoS 1 and waiting
// for PUBACK. Each is settled exactly once: `done()` on success, `done(err)` on failure.
import { AliyunIotError } from './errors';
import type { JournalEntry, QueueJournal } from './journal';

export interface OutgoingMessage {
  readonly seq: number;
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly qos: 0 | 1;
  /** Times it was handed to a connection; above 1 the broker may see it twice (QoS 1). */
  sends: number;
  settled: boolean;
  /** The client it was last handed to; a late PUBACK from an older client is ignored. */
  sentOn?: object;
  /** Its line in the disk queue, while it is unacknowledged. */
  journalId?: string;
  readonly done: (err?: Error) => void;
}

export class Outbox {
  private seq = 0;
  private queue: OutgoingMessage[] = [];
  private readonly inflightSet = new Set<OutgoingMessage>();
  /** QoS 1 messages sent more than once, because a connection dropped before their PUBACK. */
  resent = 0;

  /** Messages taken back from the disk queue after a restart. */
  restored = 0;
  /** Waiting for no QoS 1 message to be in flight. */
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly journal?: QueueJournal,
  ) {}

  create(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void): OutgoingMessage {
    return { seq: ++this.seq, topic, payload, qos, sends: 0, settled: false, done };
  }

  get queued(): number {
    return this.queue.length;
  }

  get inflight(): number {
    return this.inflightSet.size;
  }

  /** Keeps a message for the next connection, or fails it now when there is no room. */
  enqueue(message: OutgoingMessage): void {
    if (this.limit === 0) return this.settle(message, new AliyunIotError('NOT_CONNECTED'));
    if (this.queue.length >= this.limit)
      return this.settle(message, new AliyunIotError('QUEUE_FULL', { max: this.limit }));
    if (!this.record(message)) return;
    this.queue.push(message);
  }

  /**
   * Writes an accepted QoS 1 message to the disk queue (once); false, and the message failed, when
   * the disk refuses.
   */
  record(message: OutgoingMessage): boolean {
    if (!this.journal || message.qos !== 1 || message.journalId !== undefined) return true;
    try {
      message.journalId = this.journal.add(message.topic, message.payload);
      return true;
    } catch (err) {
      this.settle(message, new AliyunIotError('QUEUE_DISK_FAILED', { reason: (err as Error).message }));
      return false;
    }
  }

  /** Puts what the disk queue kept from before the restart at the head of the queue, in order. */
  restore(entries: readonly JournalEntry[]): void {
    // Negative sequence numbers: older than anything published since.
    const back = entries.map((entry, i) => ({
      ...this.create(entry.topic, entry.payload, 1, () => undefined),
      seq: i - entries.length,
      journalId: entry.id,
    }));
    this.restored += back.length;
    this.queue = [...back, ...this.queue];
  }

  /** The oldest queued message, taken off the queue. */
  shift(): OutgoingMessage | undefined {
    return this.queue.shift();
  }

  markSent(message: OutgoingMessage): void {
    message.sends++;
    if (message.sends > 1) this.resent++;
    if (message.qos === 1) this.inflightSet.add(message);
  }

  /** After a lost connection: unacknowledged QoS 1 messages go back ahead of the queue, in order. */
  requeueInflight(): void {
    if (this.inflightSet.size === 0) return;
    const back = [...this.inflightSet];
    this.inflightSet.clear();
    // Accepted messages are never failed later for want of room: the bound applies when offered.
    this.queue = [...back, ...this.queue].sort((a, b) => a.seq - b.seq);
    this.notifyDrained();
  }

  /** Resolves once no QoS 1 message is in flight (acknowledged, requeued or failed). */
  drained(): Promise<void> {
    if (this.inflightSet.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private notifyDrained(): void {
    if (this.inflightSet.size > 0 || this.drainWaiters.length === 0) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /**
   * One unacknowledged QoS 1 message whose session ended under it (mqtt.js fails the callbacks of a
   * torn-down client before it reports the close): back into the queue at its place, by age.
   */
  requeue(message: OutgoingMessage): void {
    if (!this.inflightSet.delete(message)) return;
    let at = this.queue.length;
    while (at > 0 && (this.queue[at - 1]?.seq ?? 0) > message.seq) at--;
    this.queue.splice(at, 0, message);
    this.notifyDrained();
  }

  isInflight(message: OutgoingMessage): boolean {
    return this.inflightSet.has(message);
  }

  settle(message: OutgoingMessage, err?: Error): void {
    if (message.settled) return;
    message.settled = true;
    this.inflightSet.delete(message);
    if (message.journalId !== undefined) this.forget(message.journalId);
    try {
      message.done(err);
    } catch (thrown) {
      // A caller's callback must not break the connection's bookkeeping, nor vanish without a trace.
      this.onCallbackError?.(thrown);
    }
    this.notifyDrained();
  }

  /** Told when a publisher's own callback throws (the connection reports it as a warning). */
  onCallbackError?: (err: unknown) => void;

  private forget(id: string): void {
    try {
      this.journal?.remove(id);
    } catch {
      // Left on disk: sent once more after a restart, which QoS 1 allows.
    }
  }

  /**
   * The connection is closing for good: what the disk queue holds stays there for the next start
   * (its publishes complete now, they are safe); everything else fails.
   */
  failAll(err: Error): void {
    const all = [...this.inflightSet, ...this.queue];
    this.inflightSet.clear();
    this.queue = [];
    for (const message of all) {
      const kept = message.journalId !== undefined;
      message.journalId = undefined;
      this.settle(message, kept ? undefined : err);
    }
    this.notifyDrained();
  }
}
