// A device's thing-model traffic over its pooled connection: one subscription to the post replies,
// shared by every property and event node of the device, and replies matched to requests by id.
import { AlinkIds, parseReply, PendingReplies, request, thingTopics, type AlinkReply } from './alink';
import type { DeviceChannel } from './connection';
import { AliyunIotError } from './errors';
import { exceedsPayloadLimit, MAX_PAYLOAD_BYTES, toJson } from './payload';
import { perConnection, SharedSubscription } from './shared-subscription';

export interface PostOptions {
  /** False: `sys.ack = 0`, the platform sends no reply. */
  ack: boolean;
  timeoutMs: number;
  qos: 0 | 1;
}

export class ThingChannel {
  private readonly ids = new AlinkIds();
  private readonly pending = new PendingReplies();
  private readonly replies: SharedSubscription;

  constructor(private readonly connection: DeviceChannel) {
    const filter = thingTopics.postReplies(connection.options);
    this.replies = new SharedSubscription(
      connection,
      filter,
      ({ topic, payload }) => {
        const reply = parseReply(payload);
        if (!reply) connection.emit('warning', 'REPLY_MALFORMED', { topic });
        else this.pending.settle(reply);
      },
      () => this.pending.failAll(new AliyunIotError('CONNECTION_CLOSED')),
    );
  }

  /** While any node uses the channel its reply filter stays subscribed. Returns the release. */
  attach(): () => void {
    return this.replies.attach();
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

export const thingChannelOf = perConnection((connection) => new ThingChannel(connection));
