// A device's thing-model traffic over its pooled connection: one subscription to the post replies,
// shared by every property and event node of the device, and replies matched to requests by id.
import { AlinkIds, parseReply, PendingReplies, request, thingTopics, type AlinkReply } from './alink';
import type { DeviceConnection, SubscriptionHandle } from './connection';
import { AliyunIotError } from './errors';
import { exceedsPayloadLimit, MAX_PAYLOAD_BYTES, toJson } from './payload';

export interface PostOptions {
  /** False: `sys.ack = 0`, the platform sends no reply. */
  ack: boolean;
  timeoutMs: number;
  qos: 0 | 1;
}

export class ThingChannel {
  private readonly ids = new AlinkIds();
  private readonly pending = new PendingReplies();
  private subscription: SubscriptionHandle | undefined;
  private users = 0;

  constructor(private readonly connection: DeviceConnection) {}

  /** While any node uses the channel its reply filter stays subscribed. Returns the release. */
  attach(): () => void {
    if (this.users++ === 0) {
      const filter = thingTopics.postReplies(this.connection.options);
      this.subscription = this.connection.subscribe(filter, 0, ({ topic, payload }) => {
        const reply = parseReply(payload);
        if (!reply) this.connection.emit('warning', 'REPLY_MALFORMED', { topic });
        else this.pending.settle(reply);
      });
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (--this.users > 0) return;
      this.subscription?.close(false);
      this.subscription = undefined;
      this.pending.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    };
  }

  /** Publishes an Alink request; resolves with the reply (undefined without ack) or rejects. */
  async post(topic: string, method: string, params: unknown, options: PostOptions): Promise<AlinkReply | undefined> {
    const id = this.ids.next();
    const body = toJson(request(id, method, params, options.ack));
    if (body === undefined) throw new AliyunIotError('PAYLOAD_INVALID');
    const size = exceedsPayloadLimit(body);
    if (size !== undefined) throw new AliyunIotError('PAYLOAD_TOO_LARGE', { size, max: MAX_PAYLOAD_BYTES });
    const reply = options.ack ? this.pending.expect(id) : undefined;
    // Unhandled only until awaited below; a failed publish settles it first.
    reply?.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.connection.publish(topic, body, options.qos, (err) => (err ? reject(err) : resolve()));
    }).catch((err: unknown) => {
      this.pending.fail(id, err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
    if (!reply) return undefined;
    this.pending.arm(id, options.timeoutMs);
    return reply;
  }
}

const channels = new WeakMap<DeviceConnection, ThingChannel>();

export function thingChannelOf(connection: DeviceConnection): ThingChannel {
  let channel = channels.get(connection);
  if (!channel) {
    channel = new ThingChannel(connection);
    channels.set(connection, channel);
  }
  return channel;
}
