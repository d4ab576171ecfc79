// The filters of one connection, shared by all its subscribe nodes: one MQTT subscription per
// distinct filter, and per incoming message one map lookup for the exact filters plus one trie walk
// for the wildcard ones, whatever the number of nodes. The trie exists only once a wildcard filter
// does: a trie of Maps per level cost every one of 10,000 devices about 20 Maps for its lifecycle
// topics and one exact user topic.
import { Qlobber } from 'qlobber';

/** One incoming message, handed to every subscriber it matches: read it, never change it. */
export interface Delivery {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
}

export interface Subscriber {
  readonly filter: string;
  readonly qos: 0 | 1;
  readonly deliver: (delivery: Delivery) => void;
  /** Told the SUBACK code when the broker refuses the filter. */
  readonly refused?: (code: number) => void;
}

interface FilterEntry {
  /** Replaced, never changed: a dispatch walks the list of its moment without copying it. */
  subscribers: readonly Subscriber[];
  qos: 0 | 1;
}

export class Router {
  private trie: Qlobber<Subscriber> | undefined;
  private readonly filters = new Map<string, FilterEntry>();

  /** Adds a subscriber; returns the QoS the MQTT subscription must now have, or undefined if unchanged. */
  add(subscriber: Subscriber): 0 | 1 | undefined {
    let entry = this.filters.get(subscriber.filter);
    const before = entry?.qos;
    if (!entry) {
      entry = { subscribers: [], qos: subscriber.qos };
      this.filters.set(subscriber.filter, entry);
    }
    if (entry.subscribers.includes(subscriber)) return undefined;
    entry.subscribers = [...entry.subscribers, subscriber];
    entry.qos = subscriber.qos > entry.qos ? subscriber.qos : entry.qos;
    if (isWildcard(subscriber.filter)) this.wildcards().add(subscriber.filter, subscriber);
    return before === entry.qos ? undefined : entry.qos;
  }

  /** Removes a subscriber; true when its filter has no subscriber left. */
  remove(subscriber: Subscriber): boolean {
    const entry = this.filters.get(subscriber.filter);
    if (!entry?.subscribers.includes(subscriber)) return false;
    entry.subscribers = entry.subscribers.filter((s) => s !== subscriber);
    if (isWildcard(subscriber.filter)) this.trie?.remove(subscriber.filter, subscriber);
    return entry.subscribers.length === 0;
  }

  /** Forgets a filter with no subscribers; false if one came back meanwhile. */
  drop(filter: string): boolean {
    const entry = this.filters.get(filter);
    if (!entry || entry.subscribers.length > 0) return false;
    this.filters.delete(filter);
    return true;
  }

  /** The filter's subscribers as of now: the list is replaced, never changed, so no copy is needed. */
  subscribersOf(filter: string): readonly Subscriber[] {
    return this.filters.get(filter)?.subscribers ?? [];
  }

  /** Every filter to subscribe after a (re)connect, with its QoS. */
  subscriptions(): Record<string, { qos: 0 | 1 }> {
    const out: Record<string, { qos: 0 | 1 }> = {};
    for (const [filter, entry] of this.filters) if (entry.subscribers.length > 0) out[filter] = { qos: entry.qos };
    return out;
  }

  /**
   * Hands a message to every matching subscriber once; returns how many got it. With `failed`, a
   * subscriber that throws is reported there and the others still get the message; without it, the
   * first throw propagates.
   */
  dispatch(
    topic: string,
    payload: Buffer,
    packet: { qos: number; retain: boolean },
    failed?: (err: unknown) => void,
  ): number {
    // The exact filter's list is never changed in place, so a subscriber that closes while the
    // message is handed round does not disturb the walk; only wildcard matches need a new array.
    const exact = this.filters.get(topic)?.subscribers ?? [];
    const matched = this.trie ? [...exact, ...this.trie.match(topic)] : exact;
    if (matched.length === 0) return 0;
    const delivery: Delivery = { topic, payload, qos: packet.qos, retain: packet.retain };
    for (const subscriber of matched) {
      try {
        subscriber.deliver(delivery);
      } catch (err) {
        if (!failed) throw err;
        failed(err);
      }
    }
    return matched.length;
  }

  private wildcards(): Qlobber<Subscriber> {
    // MQTT semantics: `+` one level (empty ones too), `#` zero or more trailing levels.
    this.trie ??= new Qlobber<Subscriber>({
      separator: '/',
      wildcard_one: '+',
      wildcard_some: '#',
      match_empty_levels: true,
      max_words: 128,
    });
    return this.trie;
  }
}

function isWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}
