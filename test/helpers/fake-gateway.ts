// A gateway's connection as the gateway session and sub-devices use it: it records what is
// published and routes deliveries to the subscribed handlers, so a test plays the platform.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ConnectionState, Delivery } from '../../nodes/lib/connection';
import type { GatewayLink } from '../../nodes/lib/gateway/session';

const gw = { productKey: 'gwPK', deviceName: 'gw1', signmethod: 'hmacsha256' as const };

export interface Sent {
  topic: string;
  /** The payload as JSON (requests); `{}` for anything else. */
  body: { id: string; params: unknown };
  raw: string;
  qos: 0 | 1;
  at: number;
  /** False for a sub-device's message: the gateway must not pace it with its own pace. */
  paced: boolean;
}

function json(raw: string): Sent['body'] {
  try {
    return JSON.parse(raw) as Sent['body'];
  } catch {
    return { id: '', params: undefined };
  }
}

/** The gateway's connection as the session uses it: records publishes, routes deliveries by filter. */
export class FakeGateway extends EventEmitter implements GatewayLink {
  readonly endpoint = { url: 'mqtts://gw.test:8883' };
  readonly trust = { rejectUnauthorized: true };
  readonly options: typeof gw & { gatewayRateLimit?: number };
  state: ConnectionState = 'connecting';
  readonly sent: Sent[] = [];
  private readonly handlers = new Map<string, Set<(d: Delivery) => void>>();

  constructor(gatewayRateLimit?: number) {
    super();
    this.options = { ...gw, gatewayRateLimit };
  }

  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void, paced = true): void {
    const raw = payload.toString();
    this.sent.push({ topic, body: json(raw), raw, qos, at: Date.now(), paced });
    done();
  }

  publishNow(topic: string, payload: Buffer | string, paced = true): boolean {
    this.publish(topic, payload, 0, () => undefined, paced);
    return true;
  }

  subscribe(filter: string, _qos: 0 | 1, deliver: (d: Delivery) => void) {
    const set = this.handlers.get(filter) ?? new Set();
    this.handlers.set(filter, set);
    set.add(deliver);
    return { close: () => void set.delete(deliver) };
  }

  /** Filters with at least one handler. */
  get filters(): string[] {
    return [...this.handlers].filter(([, set]) => set.size > 0).map(([filter]) => filter);
  }

  go(state: ConnectionState): void {
    this.state = state;
    this.emit('state', { state });
  }

  /** The platform answers the last request sent on `topic`. */
  reply(topic: string, code: number, data: unknown = {}): void {
    const request = [...this.sent].reverse().find((s) => s.topic === topic);
    assert.ok(request, `a request on ${topic}`);
    this.deliver(`${topic}_reply`, { id: request.body.id, code, data, message: code === 200 ? 'success' : 'x' });
  }

  /** Delivers to the handlers of the filter equal to `topic` (tests subscribe exact topics). */
  deliver(topic: string, body: unknown): void {
    const handlers = [...(this.handlers.get(topic) ?? [])];
    assert.ok(handlers.length > 0, `subscribed to ${topic}`);
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    for (const handler of handlers) handler({ topic, payload, qos: 0, retain: false });
  }

  count(topic: string): number {
    return this.sent.filter((s) => s.topic === topic).length;
  }
}

export const T = {
  topoGet: '/sys/gwPK/gw1/thing/topo/get',
  topoAdd: '/sys/gwPK/gw1/thing/topo/add',
  register: '/sys/gwPK/gw1/thing/sub/register',
  login: '/ext/session/gwPK/gw1/combine/batch_login',
  logout: '/ext/session/gwPK/gw1/combine/batch_logout',
  error: '/ext/error/gwPK/gw1',
  topoChange: '/sys/gwPK/gw1/thing/topo/change',
};
