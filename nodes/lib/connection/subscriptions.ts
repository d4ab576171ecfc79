// The device's subscriptions: one MQTT subscription per distinct filter, shared by every node through
// the topic trie; a grace period before a filter no node wants is dropped (a restarted node may want
// it back); refused filters remembered for nodes that come later; all made again on every session.
import type { MqttClient } from 'mqtt';
import { Router, type Delivery, type Subscriber } from '../router';

export type { Delivery } from '../router';

export interface SubscriptionHandle {
  /** `removed`: the node was deleted, so an unwanted filter is unsubscribed at once. */
  close(removed: boolean): void;
}

export class SubscriptionTable {
  readonly router = new Router();
  private readonly removals = new Map<string, NodeJS.Timeout>();
  private readonly refusedFilters = new Map<string, number>();
  /**
   * Filters no node wants whose UNSUBSCRIBE has not been acknowledged (sent offline, or the session
   * ended first), with a count that tells one UNSUBSCRIBE of a filter from a later one. A persistent
   * session keeps them on the platform, so they go out again on the next one.
   */
  private readonly unsubscribing = new Map<string, number>();
  private unsubscribeCount = 0;

  /**
   * @param session the client requests can go out on now, if any
   * @param closed true once the connection has ended for good
   */
  constructor(
    private readonly graceMs: number,
    private readonly session: () => MqttClient | undefined,
    private readonly closed: () => boolean,
    /** A subscriber that threw: reported, and the other subscribers still get the message. */
    private readonly failed: (err: unknown) => void = () => undefined,
  ) {}

  /** Hands a downlink message to every matching subscriber; nothing a subscriber throws escapes. */
  dispatch(topic: string, payload: Buffer, packet: { qos: number; retain: boolean }): void {
    this.router.dispatch(topic, payload, packet, this.failed);
  }

  add(
    filter: string,
    qos: 0 | 1,
    deliver: (delivery: Delivery) => void,
    refused?: (code: number) => void,
  ): SubscriptionHandle {
    const pending = this.removals.get(filter);
    if (pending) {
      clearTimeout(pending);
      this.removals.delete(filter);
    }
    this.unsubscribing.delete(filter);
    const subscription = new Subscription(this, filter, qos, deliver, refused);
    const raise = this.router.add(subscription);
    const refusedCode = this.refusedFilters.get(filter);
    const client = this.session();
    if (raise !== undefined && client) this.subscribe(client, { [filter]: { qos: raise } });
    else if (refusedCode !== undefined) refused?.(refusedCode);
    return subscription;
  }

  /** A node's subscription ends; its filter goes when no one else wants it (after the grace period). */
  release(subscription: Subscription, removed: boolean): void {
    const { filter } = subscription;
    if (!this.router.remove(subscription)) return;
    if (removed || this.closed()) this.forget(filter);
    else
      this.removals.set(
        filter,
        setTimeout(() => this.forget(filter), this.graceMs),
      );
  }

  /** A new session: what a persistent one still holds that no node wants goes, the rest is made again. */
  resume(client: MqttClient, cleanSession: boolean): void {
    this.refusedFilters.clear();
    // A clean session starts with no subscriptions at all: nothing is left to take back.
    if (cleanSession) this.unsubscribing.clear();
    this.unsubscribe(client, [...this.unsubscribing.keys()]);
    this.subscribe(client, this.router.subscriptions());
  }

  /** The connection ends: no filter waits for its grace period any more. */
  stop(): void {
    for (const timer of this.removals.values()) clearTimeout(timer);
    this.removals.clear();
  }

  private forget(filter: string): void {
    this.removals.delete(filter);
    if (!this.router.drop(filter)) return;
    this.refusedFilters.delete(filter);
    this.unsubscribing.set(filter, ++this.unsubscribeCount);
    const client = this.session();
    if (client) this.unsubscribe(client, [filter]);
  }

  private unsubscribe(client: MqttClient, filters: string[]): void {
    if (filters.length === 0) return;
    const sent = filters.map((filter) => [filter, this.unsubscribing.get(filter)] as const);
    client.unsubscribe(filters, (err) => {
      // Unacknowledged: tried again on the next session (a persistent one still has them).
      if (err) return;
      for (const [filter, count] of sent)
        if (this.unsubscribing.get(filter) === count) this.unsubscribing.delete(filter);
    });
  }

  /**
   * mqtt.js rejects a whole SUBSCRIBE when one filter gets 0x80, so the SUBACK is read from the
   * packet instead: one refused filter does not hide the others. A SUBSCRIBE lost to a teardown
   * needs nothing: the next session subscribes everything again.
   */
  private subscribe(client: MqttClient, filters: Record<string, { qos: 0 | 1 }>): void {
    if (Object.keys(filters).length === 0) return;
    client.subscribe(filters, (_err, subs, packet) => {
      const granted = (packet as { granted?: (number | object)[] } | undefined)?.granted ?? [];
      subs?.forEach((sub, i) => {
        const code = granted[i];
        if (typeof code !== 'number' || (code & 0x80) === 0) return;
        this.refusedFilters.set(sub.topic, code);
        // Inside mqtt.js's SUBACK handling: a node's callback that throws is reported, not raised.
        for (const s of this.router.subscribersOf(sub.topic)) {
          try {
            s.refused?.(code);
          } catch (err) {
            this.failed(err);
          }
        }
      });
    });
  }
}

/**
 * A subscriber of the router and the node's handle at once: one object per subscription, with no
 * closure (10,000 devices hold tens of thousands of them).
 */
class Subscription implements Subscriber, SubscriptionHandle {
  constructor(
    private readonly table: SubscriptionTable,
    readonly filter: string,
    readonly qos: 0 | 1,
    readonly deliver: (delivery: Delivery) => void,
    readonly refused: ((code: number) => void) | undefined,
  ) {}

  /** A second close finds the subscription gone from the router and does nothing. */
  close(removed: boolean): void {
    this.table.release(this, removed);
  }
}
