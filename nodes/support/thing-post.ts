// What property and event nodes share: the device's thing channel while the node lives, and a
// post's reply turned into the node's output or its done(err).
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { replyError, type AlinkReply } from '../lib/alink';
import type { PostOptions, ThingChannel } from '../lib/thing';
import { thingChannelOf } from '../lib/thing';
import type { DeviceLink } from './device-link';
import { millisecondsOf } from './durations';
import { codedError, localize, localizedError } from './i18n';
import type { Accepted, Refused, UnknownPolicy } from '../lib/tsl-check';
import { dataReader, type TypedReader } from './typed-value';

export const DEFAULT_REPLY_TIMEOUT_S = 10;

export interface ThingPostDef {
  timeout?: string | number;
  /** With a product's thing model: `warn` sends identifiers it lacks with a warning; else refused. */
  tslUnknown?: string;
  ack?: boolean | string;
  /** TypedInput of the data posted; absent (flows from before it existed): msg.payload. */
  payload?: string;
  payloadType?: string;
}

/** Reads the data a property or event node posts: msg.payload inline, else through RED.util. */
export function postDataReader(RED: NodeAPI, node: Node, def: ThingPostDef): TypedReader | undefined {
  return dataReader(RED, node, def.payload, def.payloadType);
}

/** The node's reply settings; a blank or invalid timeout falls back to the default. */
export function postOptionsOf(def: ThingPostDef): PostOptions {
  return {
    ack: def.ack !== false && def.ack !== 'false',
    timeoutMs: millisecondsOf(def.timeout, DEFAULT_REPLY_TIMEOUT_S),
    qos: 1,
  };
}

export function attachThing(node: Node, link: DeviceLink): ThingChannel | undefined {
  if (!link.ok) return undefined;
  const channel = thingChannelOf(link.connection);
  const release = channel.attach();
  node.on('close', release);
  return channel;
}

/** The reply as `msg.payload = { code, message, data }`, an error reply or timeout as done(err). */
export function settlePost(
  RED: NodeAPI,
  posted: Promise<AlinkReply | undefined>,
  msg: NodeMessage,
  send: (msg: NodeMessage) => void,
  done: (err?: Error) => void,
): void {
  posted.then(
    (reply) => {
      if (!reply) return done();
      const err = replyError(reply);
      if (err) return done(localizedError(RED, err));
      send({ ...msg, payload: { code: reply.code, message: reply.message, data: reply.data } });
      done();
    },
    (err: unknown) => done(localizedError(RED, err)),
  );
}

export const unknownPolicyOf = (def: ThingPostDef): UnknownPolicy => (def.tslUnknown === 'warn' ? 'warn' : 'refuse');

/**
 * The data a thing-model check accepted (converted), or undefined after done(err) for a refusal.
 * Identifiers kept under the `warn` policy get one warning each.
 */
export function acceptedByModel<T>(
  RED: NodeAPI,
  node: Node,
  verdict: Accepted<T> | Refused,
  done: (err?: Error) => void,
): { value: T } | undefined {
  if (!verdict.ok) {
    done(codedError(RED, verdict.problem.code, verdict.problem.params));
    return undefined;
  }
  for (const identifier of verdict.unknown) node.warn(localize(RED, 'TSL_UNKNOWN', { identifier }));
  return { value: verdict.value };
}
