// The gateway's requests to the platform and their replies: every reply topic subscribed once on
// the gateway's connection, each request published at QoS 0 (login topics take nothing else) and
// matched to its reply by id, with a deadline from when it left.
import { AlinkIds, parseReply, PendingReplies, type AlinkReply, type AlinkRequest } from '../alink';
import type { Delivery, SubscriptionHandle } from '../connection';
import type { AliyunIotError } from '../errors';
import type { GatewayLink } from './parties';
import { gatewayTopics, replyTopic } from './protocol';

export class GatewayRequests {
  private readonly replies = new PendingReplies();
  private readonly ids = new AlinkIds();
  private readonly handles: SubscriptionHandle[];
  /** A reply nothing waits for any more (its deadline passed, or a duplicate), with its topic. */
  onUnexpected: ((topic: string, reply: AlinkReply) => void) | undefined;

  constructor(
    private readonly gateway: GatewayLink,
    private readonly timeoutMs: number,
  ) {
    const gw = gateway.options;
    const onReply = (d: Delivery): void => {
      const reply = parseReply(d.payload);
      if (reply && !this.replies.settle(reply)) this.onUnexpected?.(d.topic, reply);
    };
    // Subscribed once; the connection subscribes again after a reconnect.
    const topics = [
      gatewayTopics.topoGet(gw),
      gatewayTopics.topoAdd(gw),
      gatewayTopics.topoDelete(gw),
      gatewayTopics.listFound(gw),
      gatewayTopics.subRegister(gw),
      gatewayTopics.batchLogin(gw),
      gatewayTopics.batchLogout(gw),
    ];
    this.handles = topics.map((topic) => gateway.subscribe(replyTopic(topic), 0, onReply));
  }

  nextId(): string {
    return this.ids.next();
  }

  /** Publishes a request and waits for its reply (rejects on a failed publish or the deadline). */
  send(topic: string, req: AlinkRequest): Promise<AlinkReply> {
    const reply = this.replies.expect(req.id);
    this.gateway.publish(topic, JSON.stringify(req), 0, (err) => {
      if (err) this.replies.fail(req.id, err);
      else this.replies.arm(req.id, this.timeoutMs);
    });
    return reply;
  }

  failAll(err: AliyunIotError): void {
    this.replies.failAll(err);
  }

  close(err: AliyunIotError): void {
    for (const handle of this.handles) handle.close(false);
    this.replies.failAll(err);
  }
}
