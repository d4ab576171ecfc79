// Every device's data as the platform's server-side subscription delivers it (PLATFORM.md §17.1):
// one message per delivery, acknowledged when the flow has finished with it (completion.ts), so a
// Node-RED that stops mid-message gets it again. Several Node-RED instances logging into one
// consumer group share the stream: the platform gives each message to one of them.
import { hostname } from 'node:os';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  AmqpConsumer,
  DEFAULT_CREDIT,
  MAX_CLIENT_ID,
  MAX_CONNECTIONS,
  MAX_CREDIT,
  type AmqpCounters,
  type AmqpLinkStatus,
  type AmqpMessage,
} from './lib/cloud/amqp-consumer';
import type { ErrorCode } from './lib/errors';
import { linkAccount } from './support/account-link';
import { completionTracker } from './support/completion';
import { codedError, localize } from './support/i18n';
import { problemStatus } from './support/status';

interface AmqpInDef extends NodeDef {
  account?: string;
  consumerGroupId?: string;
  clientId?: string;
  connections?: string | number;
  creditWindow?: string | number;
}

const CLIENT_ID = /^[^|,=\s]+$/;

function wholeNumber(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) ? n : Number.NaN;
}

/** This machine and node: unique across the instances that share a group, stable across restarts. */
function defaultClientId(nodeId: string): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '')
      .slice(0, 30) || 'node-red';
  return `${host}-${nodeId}`.slice(0, MAX_CLIENT_ID - 4);
}

/** JSON as its value, anything else as the bytes it is. */
function payloadOf(bytes: Buffer): unknown {
  if (bytes.length === 0) return bytes;
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return bytes;
  }
}

export = function register(RED: NodeAPI): void {
  function AliyunIotAmqpIn(this: Node, def: AmqpInDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkAccount(RED, node, def.account);
    if (!link.ok) return;
    const groupId = (def.consumerGroupId ?? '').trim();
    const clientId = (def.clientId ?? '').trim() || defaultClientId(node.id);
    const connections = wholeNumber(def.connections, 1);
    const creditWindow = wholeNumber(def.creditWindow, DEFAULT_CREDIT);
    const problem = ((): [ErrorCode, Record<string, unknown>] | undefined => {
      if (!link.options.amqp) return ['AMQP_HOST_MISSING', {}];
      if (!groupId) return ['AMQP_GROUP_MISSING', {}];
      if (clientId.length > MAX_CLIENT_ID - 4 || !CLIENT_ID.test(clientId))
        return ['AMQP_CLIENT_ID_INVALID', { max: MAX_CLIENT_ID - 4 }];
      if (!(connections >= 1 && connections <= MAX_CONNECTIONS))
        return ['AMQP_CONNECTIONS_INVALID', { max: MAX_CONNECTIONS }];
      if (!(creditWindow >= 1 && creditWindow <= MAX_CREDIT)) return ['AMQP_CREDIT_INVALID', { max: MAX_CREDIT }];
      return undefined;
    })();
    if (problem) {
      const text = localize(RED, problem[0], problem[1]);
      node.status(problemStatus(text));
      node.error(codedError(RED, problem[0], problem[1]).message);
      return;
    }

    const tracker = completionTracker(RED);
    if (!tracker.available) node.warn(localize(RED, 'AMQP_NO_HOOKS'));
    let lastStatus = '';

    const showStatus = (links: readonly AmqpLinkStatus[], counters: Readonly<AmqpCounters>) => {
      const open = links.filter((l) => l.state === 'open').length;
      const refused = links.some((l) => l.state === 'auth-failed');
      const words = RED._('aliyun-iot-amqp-in.status.summary', {
        open: String(open),
        total: String(links.length),
        inFlight: String(counters.inFlight),
        received: String(counters.received),
      });
      const text = refused ? `${RED._('aliyun-iot-amqp-in.status.refused')} · ${words}` : words;
      node.status({
        fill: open === links.length ? 'green' : refused ? 'red' : 'yellow',
        shape: open === links.length ? 'dot' : 'ring',
        text,
      });
      // The status output: on every change of a connection's state, not on every message.
      const key = links.map((l) => l.state).join();
      if (key === lastStatus) return;
      lastStatus = key;
      for (const l of links)
        if (l.state === 'auth-failed' && l.error) node.error(localize(RED, 'AMQP_AUTH_FAILED', { reason: l.error }));
      node.send([
        null,
        {
          topic: 'status',
          payload: {
            connections: links.map((l) => ({ ...l })),
            open,
            // The credit each connection grants; counters.inFlight is how much of it the flow holds.
            creditWindow,
            counters: { ...counters },
          },
        },
      ]);
    };

    // The counters move with every message: the status follows at most once a second.
    let refresh: NodeJS.Timeout | undefined;
    const countersMoved = () => {
      refresh ??= setTimeout(() => {
        refresh = undefined;
        showStatus(consumer.linkStatuses(), consumer.stats());
      }, 1000);
    };

    const consumer = new AmqpConsumer(
      { account: link.options, consumerGroupId: groupId, clientId, connections, creditWindow },
      {
        message(message: AmqpMessage, settle) {
          const msgId = RED.util.generateId();
          const msg: NodeMessage & Record<string, unknown> = {
            _msgid: msgId,
            topic: message.topic,
            payload: payloadOf(message.payload),
            messageId: message.messageId,
            generateTime: message.generateTime,
          };
          if (message.productKey) msg.productKey = message.productKey;
          if (message.deviceName) msg.deviceName = message.deviceName;
          countersMoved();
          tracker.track(
            msgId,
            () => node.send([msg, null]),
            () => {
              settle();
              countersMoved();
            },
          );
        },
        status: showStatus,
      },
    );
    consumer.start();

    node.on('close', (done: () => void) => {
      clearTimeout(refresh);
      tracker.release();
      consumer.stop().then(done, done);
    });
  }

  RED.nodes.registerType('aliyun-iot-amqp-in', AliyunIotAmqpIn);
};
