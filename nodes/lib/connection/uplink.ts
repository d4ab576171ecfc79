// Everything a device sends: the outbox that settles every publish once, the pace the platform
// allows, and the flush of what waited. Sends only on a session that can take them.
import type { MqttClient } from 'mqtt';
import { AliyunIotError, type ErrorCode } from '../errors';
import type { QueueJournal } from '../journal';
import { Outbox, type OutgoingMessage } from '../outbox';
import { Pacer } from '../pacer';
import { sessionEnded, type MqttSession } from './mqtt-session';

export class Uplink {
  readonly outbox: Outbox;
  readonly pacer: Pacer;
  private paceTimer: NodeJS.Timeout | undefined;
  private journalRestored = false;

  private session: MqttSession | undefined;

  /** @param closed true once the connection has ended for good */
  constructor(
    private readonly queueSize: number,
    rateLimit: number,
    private readonly journal: QueueJournal | undefined,
    now: () => number,
    private readonly closed: () => boolean,
  ) {
    this.outbox = new Outbox(queueSize, journal);
    this.pacer = new Pacer(rateLimit, now);
  }

  /**
   * The hot path: a QoS 0 publish on a live session with nothing queued ahead of it needs no
   * bookkeeping and no callback. False when the message must take `publish` instead.
   */
  publishNow(topic: string, payload: Buffer | string, paced = true): boolean {
    const session = this.writable();
    if (!session || this.outbox.queued > 0 || (paced && !this.pacer.take())) return false;
    session.publish(topic, payload, 0);
    return true;
  }

  /**
   * @param paced false for a sub-device's message: its own pace and its gateway's shared pace held
   * it already, and the gateway's own pace is for the gateway's messages. (One that must wait here
   * anyway, the link being down, is paced with the rest when it goes.)
   */
  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void, paced = true): void {
    if (qos === 0 && this.publishNow(topic, payload, paced)) return done();
    const message = this.outbox.create(topic, payload, qos, done);
    if (this.closed()) return this.outbox.settle(message, new AliyunIotError('CONNECTION_CLOSED'));
    const session = this.writable();
    if (!session) return this.outbox.enqueue(message);
    if (this.outbox.queued === 0 && (!paced || this.pacer.take())) return this.send(session, message);
    // Connected but over the pace: wait in the queue, or fail now when there is none.
    if (this.queueSize === 0)
      return this.outbox.settle(message, new AliyunIotError('RATE_LIMITED', { rate: this.pacer.ratePerSecond }));
    this.outbox.enqueue(message);
    this.schedule();
  }

  /**
   * The online session, set by the connection as it enters and leaves `online`: a field, not a
   * callback, because every publish reads it. Without one nothing waits for the pace.
   */
  set online(session: MqttSession | undefined) {
    this.session = session;
    if (session) return;
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
  }

  /** The online session while requests can go out on it. */
  writable(): MqttSession | undefined {
    const session = this.session;
    return session?.writable ? session : undefined;
  }

  /** Sends queued messages as fast as the pace allows, oldest first. */
  flush(): void {
    // Called early (on connect) too: the timer armed before must not fire on later, or after close.
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    let session = this.writable();
    while (session && this.outbox.queued > 0 && this.pacer.take()) {
      const message = this.outbox.shift();
      if (message) this.send(session, message);
      session = this.writable();
    }
    if (session) this.schedule();
  }

  /**
   * Once, before the first login and after the predecessor has logged out (and stopped writing the
   * same file): what the disk queue kept goes out first.
   */
  restoreJournal(warn: (code: ErrorCode, params: Record<string, unknown>) => void): void {
    if (!this.journal || this.journalRestored) return;
    this.journalRestored = true;
    try {
      const entries = this.journal.restore();
      this.outbox.restore(entries);
      if (entries.length > 0) warn('QUEUE_RESTORED', { count: entries.length });
    } catch (err) {
      warn('QUEUE_DISK_FAILED', { reason: (err as Error).message });
    }
  }

  /**
   * Gives QoS 1 messages already on the wire a moment for their PUBACK before logging out: until
   * none is in flight, the session ends, or the time is up.
   */
  async drained(session: MqttSession, limitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let closed: (() => void) | undefined;
    await Promise.race([
      this.outbox.drained(),
      new Promise((resolve) => (timer = setTimeout(resolve, limitMs))),
      new Promise<void>((resolve) => session.client.once('close', (closed = resolve))),
    ]);
    clearTimeout(timer);
    if (closed) session.client.off('close', closed);
  }

  private schedule(): void {
    if (this.paceTimer || this.outbox.queued === 0) return;
    this.paceTimer = setTimeout(() => this.flush(), this.pacer.waitMs());
  }

  private send(session: MqttSession, message: OutgoingMessage): void {
    // Written to the disk queue before it can be lost with the link.
    if (!this.outbox.record(message)) return;
    this.outbox.markSent(message);
    const client: MqttClient = session.client;
    if (message.qos === 0) {
      session.publish(message.topic, message.payload, 0);
      this.outbox.settle(message);
      return;
    }
    message.sentOn = client;
    session.publish(message.topic, message.payload, 1, (err) => {
      // A message requeued after a lost session belongs to the next one now.
      if (message.sentOn !== client || !this.outbox.isInflight(message)) return;
      if (!err) {
        this.outbox.settle(message);
      } else if (sessionEnded(client, err)) {
        // The session ended before the PUBACK: the message goes out again on the next one. Only
        // close() fails messages for good, and it takes them out of flight before it ends the client.
        session.over = true;
        this.outbox.requeue(message);
      } else {
        this.outbox.settle(message, new AliyunIotError('PUBLISH_FAILED', { reason: err.message }));
      }
    });
  }
}
