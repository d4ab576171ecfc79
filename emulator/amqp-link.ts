// One logged-in AMQP connection and its receiver link, as a consumer group sees it (an Outlet,
// emulator/amqp-groups.ts): the credit the client's flow leaves, and each data-flow message encoded
// as PLATFORM.md §17.1 says: the body a binary data section, application properties `topic`,
// `messageId`, `generateTime`. The AMQP `message_id` carries the messageId too: the platform's Node
// sample reads it (UNVERIFIED that the platform sets it; setting it breaks nobody).
import type { TLSSocket } from 'node:tls';
import rhea, { type Connection, type Delivery, type Sender } from 'rhea';
import type { ConsumerGroup, Outcome, Outlet } from './amqp-groups';
import type { DataFlowMessage } from './dataflow';

/** One logged-in connection and its receiver link. */
export class Client implements Outlet {
  sender: Sender | undefined;
  /** Deliveries sent on `sender`: rhea lowers its credit only when it writes them out. */
  private sent = 0;
  linkTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly connection: Connection,
    readonly socket: TLSSocket | undefined,
    readonly clientId: string,
    readonly group: ConsumerGroup,
    private readonly outcomes: WeakMap<Delivery, (outcome: Outcome) => void>,
  ) {}

  attach(sender: Sender): void {
    this.sender = sender;
    this.sent = 0;
  }

  /**
   * AMQP 1.0 flow: the client allows deliveries up to its delivery-count + link-credit; rhea's
   * `credit` plus its `delivery_count` is that limit, minus what was sent already.
   */
  credit(): number {
    const sender = this.sender;
    if (!sender || !sender.is_open() || !sender.sendable()) return 0;
    const { credit, delivery_count } = sender as unknown as { credit: number; delivery_count: number };
    return credit + delivery_count - this.sent;
  }

  send(message: DataFlowMessage, settled: (outcome: Outcome) => void): void {
    if (!this.sender) return;
    this.sent++;
    const delivery = this.sender.send({
      message_id: message.messageId,
      body: rhea.message.data_section(message.payload) as unknown,
      // generateTime as an AMQP long: Java clients read it with getLongProperty.
      application_properties: {
        topic: message.topic,
        messageId: message.messageId,
        generateTime: rhea.types.wrap_long(message.generateTime),
      },
    });
    this.outcomes.set(delivery, settled);
  }
}
