// A consumer group of the AMQP subscription (PLATFORM.md §17.1): its messages spread over the
// connections logged in with its ID, each message to ONE of them, only against the link credit the
// client granted. What no connection can take waits in the group's queue (bounded: the oldest is
// dropped and counted). A delivery not accepted within the ACK timeout (30 s), released, or on a
// connection that closed goes back to the queue and is pushed again, maybe to another connection:
// duplicates are possible, as on the platform (deduplicate by messageId).
// Choices (UNVERIFIED): round-robin among the connections with credit; a message pushed again goes
// ahead of the queue; a rejected message counts as settled (the client refused it for good), not pushed again.
import type { DataFlowMessage } from './dataflow';

export type Outcome = 'accepted' | 'rejected' | 'released';

/** One connection's receiver link, as the group sees it (emulator/amqp.ts). */
export interface Outlet {
  readonly clientId: string;
  /** Deliveries the link credit still allows now. */
  credit(): number;
  /** Sends; `settled` is called once with the client's outcome (never, if it gives none). */
  send(message: DataFlowMessage, settled: (outcome: Outcome) => void): void;
}

export interface GroupCounters {
  /** Deliveries sent, first pushes and pushes again alike. */
  delivered: number;
  accepted: number;
  rejected: number;
  /** Messages put back to be pushed again (ACK timeout, release, connection closed). */
  redelivered: number;
  /** Messages the full queue dropped, oldest first. */
  dropped: number;
}

export interface GroupLimits {
  ackTimeoutMs: number;
  queueLimit: number;
}

interface InFlight {
  message: DataFlowMessage;
  outlet: Outlet;
  timer: NodeJS.Timeout;
}

/** A FIFO whose shift is O(1): an array and a head index, compacted now and then. */
class Queue {
  private items: DataFlowMessage[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(message: DataFlowMessage): void {
    this.items.push(message);
  }

  shift(): DataFlowMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const message = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return message;
  }
}

export class ConsumerGroup {
  readonly counters: GroupCounters = { delivered: 0, accepted: 0, rejected: 0, redelivered: 0, dropped: 0 };
  private readonly queue = new Queue();
  /** Messages to push again: before the queue. */
  private readonly again: DataFlowMessage[] = [];
  private readonly outlets: Outlet[] = [];
  private readonly inFlight = new Set<InFlight>();
  private next = 0;

  constructor(
    readonly id: string,
    private readonly limits: GroupLimits,
  ) {}

  /** Messages waiting for a connection with credit. */
  queued(): number {
    return this.queue.length + this.again.length;
  }

  clientIds(): string[] {
    return this.outlets.map((o) => o.clientId);
  }

  push(message: DataFlowMessage): void {
    this.queue.push(message);
    if (this.queue.length > this.limits.queueLimit) {
      this.queue.shift();
      this.counters.dropped++;
    }
    this.pump();
  }

  attach(outlet: Outlet): void {
    if (!this.outlets.includes(outlet)) this.outlets.push(outlet);
    this.pump();
  }

  /** The connection or its link is gone: what it had not accepted goes back at once. */
  detach(outlet: Outlet): void {
    const at = this.outlets.indexOf(outlet);
    if (at < 0) return;
    this.outlets.splice(at, 1);
    for (const entry of [...this.inFlight]) if (entry.outlet === outlet) this.putBack(entry);
    this.pump();
  }

  /** Sends what waits while some connection has credit. */
  pump(): void {
    while (this.queued() > 0) {
      const outlet = this.pick();
      if (!outlet) return;
      const message = this.again.shift() ?? this.queue.shift();
      if (message) this.deliver(outlet, message);
    }
  }

  /** The next connection with credit after the last one served. */
  private pick(): Outlet | undefined {
    const n = this.outlets.length;
    for (let i = 0; i < n; i++) {
      const outlet = this.outlets[(this.next + i) % n];
      if (outlet && outlet.credit() > 0) {
        this.next = (this.next + i + 1) % n;
        return outlet;
      }
    }
    return undefined;
  }

  private deliver(outlet: Outlet, message: DataFlowMessage): void {
    const entry: InFlight = {
      message,
      outlet,
      timer: setTimeout(() => {
        this.putBack(entry);
        this.pump();
      }, this.limits.ackTimeoutMs),
    };
    entry.timer.unref();
    this.inFlight.add(entry);
    this.counters.delivered++;
    outlet.send(message, (outcome) => {
      // An outcome after the ACK timeout or the close changes nothing: the message is out again.
      if (!this.inFlight.has(entry)) return;
      if (outcome === 'released') {
        this.putBack(entry);
        this.pump();
        return;
      }
      clearTimeout(entry.timer);
      this.inFlight.delete(entry);
      this.counters[outcome]++;
    });
  }

  private putBack(entry: InFlight): void {
    if (!this.inFlight.delete(entry)) return;
    clearTimeout(entry.timer);
    this.again.push(entry.message);
    this.counters.redelivered++;
  }

  /** The server stops: nothing is pushed or put back any more. */
  close(): void {
    for (const entry of this.inFlight) clearTimeout(entry.timer);
    this.inFlight.clear();
    this.outlets.length = 0;
  }
}
