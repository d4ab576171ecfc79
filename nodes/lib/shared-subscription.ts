// What several nodes of one device share over its pooled connection: one service object per
// connection, and one subscription kept while any node uses it.
import type { Delivery, DeviceChannel, SubscriptionHandle } from './connection';

/** `create` once per connection; later calls for the same connection get the same object. */
export function perConnection<T>(create: (connection: DeviceChannel) => T): (connection: DeviceChannel) => T {
  const made = new WeakMap<DeviceChannel, T>();
  return (connection) => {
    let found = made.get(connection);
    if (!found) {
      found = create(connection);
      made.set(connection, found);
    }
    return found;
  };
}

/** A filter subscribed while at least one user is attached; `idle` runs when the last one leaves. */
export class SharedSubscription {
  private handle: SubscriptionHandle | undefined;
  private users = 0;

  constructor(
    private readonly connection: DeviceChannel,
    private readonly filter: string,
    private readonly deliver: (delivery: Delivery) => void,
    private readonly idle: () => void,
  ) {}

  /** Returns the release, safe to call more than once. */
  attach(): () => void {
    if (this.users++ === 0) this.handle = this.connection.subscribe(this.filter, 0, this.deliver);
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (--this.users > 0) return;
      this.handle?.close(false);
      this.handle = undefined;
      this.idle();
    };
  }
}
