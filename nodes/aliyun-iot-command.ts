// What the cloud asks of the device: property set, service calls, RRPC (system and `/ext/rrpc/`
// forms), raw data and custom-topic RRPC, one message each, with msg.aliyun carrying what the reply
// node needs. Optionally answers 200 at once (Alink calls only: raw bytes are the flow's to make).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import {
  answeredRaw,
  commandBookOf,
  commandTopics,
  customRrpcTopic,
  parseCommand,
  replyBody,
  replyTopic,
  type ReceivedCommand,
} from './lib/commands';
import type { SubscriptionHandle } from './lib/connection';
import { cloudDataProblem, type TslProblem } from './lib/tsl-check';
import type { ThingModel } from './lib/tsl-model';
import { linkDevice } from './support/device-link';
import { millisecondsOf } from './support/durations';
import { localize, localizedError } from './support/i18n';

interface CommandDef extends NodeDef {
  device?: string;
  propertySet?: boolean;
  services?: boolean;
  rrpc?: boolean;
  /** Raw (pass-through) data on thing/model/down_raw. */
  raw?: boolean;
  /** A custom topic whose RRPC this node answers (the config node logs in with ext=1 then). */
  rrpcTopic?: string;
  service?: string;
  autoReply?: boolean;
  timeout?: string | number;
  rrpcTimeout?: string | number;
}

const DEFAULT_ASYNC_TIMEOUT_S = 60;
const DEFAULT_RRPC_TIMEOUT_S = 8;

function topicOf({ command }: ReceivedCommand): string {
  if (command.kind === 'property-set') return 'property/set';
  if (command.kind === 'raw') return 'raw';
  // The custom topic, without the /ext/rrpc/<id> in front.
  if (command.kind === 'topic-rrpc') return command.replyTo.replace(/^\/ext\/rrpc\/\d+/, '');
  return command.serviceId ? `service/${command.serviceId}` : 'rrpc';
}

/** A property set or a service call (not raw RRPC) against the model. */
function modelProblem(model: ThingModel, command: ReceivedCommand['command'], params: unknown): TslProblem | undefined {
  if (command.kind === 'property-set') return cloudDataProblem(model, undefined, params);
  return command.serviceId ? cloudDataProblem(model, command.serviceId, params) : undefined;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotCommand(this: Node, def: CommandDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const handles: SubscriptionHandle[] = [];
    if (link.ok) {
      const { connection, options } = link;
      const book = commandBookOf(connection);
      const only = typeof def.service === 'string' ? def.service.trim() : '';
      const times = {
        asyncTimeoutMs: millisecondsOf(def.timeout, DEFAULT_ASYNC_TIMEOUT_S),
        rrpcTimeoutMs: millisecondsOf(def.rrpcTimeout, DEFAULT_RRPC_TIMEOUT_S, DEFAULT_RRPC_TIMEOUT_S),
      };
      const receive = ({ topic, payload }: { topic: string; payload: Buffer }) => {
        const received = parseCommand(options, topic, payload, { ...times, now: Date.now() });
        if (received === 'malformed') {
          node.warn(localize(RED, 'COMMAND_MALFORMED', { topic }));
          return;
        }
        if (!received) return;
        const { command, params } = received;
        // A service filter also narrows RRPC; raw RRPC (no service) passes only without one.
        const serviceKind = command.kind === 'service' || command.kind === 'rrpc';
        if (only && serviceKind && command.serviceId !== only) return;
        // What the cloud sent is checked against the thing model for a warning; the flow decides.
        const problem = link.model && modelProblem(link.model, command, params);
        if (problem) {
          const reason = localize(RED, problem.code, problem.params);
          node.warn(localize(RED, 'TSL_CLOUD_DATA', { what: topicOf(received), reason }));
        }
        // Async raw data has no deadline: whether and how it is answered is the device's business.
        if (command.deadline > 0)
          book.open(command, () => {
            node.warn(
              localize(RED, 'COMMAND_UNANSWERED', { topic: topicOf(received), id: command.id || command.messageId }),
            );
          });
        // Two auto-replying nodes on one device answer once between them.
        if (def.autoReply && !answeredRaw(command) && book.answer(command) !== 'duplicate') {
          const { topic: to, qos } = replyTopic(command);
          connection.publish(to, replyBody(command, 200, {}) ?? '', qos, (err) => {
            if (err) node.error(localizedError(RED, err).message);
          });
        }
        node.send({ topic: topicOf(received), payload: params, aliyun: { ...command } });
      };
      const filters: string[] = [];
      if (def.propertySet !== false) filters.push(commandTopics.propertySet(options));
      if (def.services !== false) filters.push(commandTopics.service(options, only || '+'));
      if (def.rrpc !== false) filters.push(commandTopics.rrpcRequests(options));
      // Logged in with ext=1, the platform sends synchronous calls in the /ext/rrpc/ form instead.
      if (def.rrpc !== false && options.extRrpc) filters.push(commandTopics.extServices(options, only || '+'));
      if (def.raw === true) filters.push(commandTopics.downRaw(options));
      if (def.raw === true && options.extRrpc) filters.push(commandTopics.extDownRaw(options));
      const wanted = typeof def.rrpcTopic === 'string' ? def.rrpcTopic : '';
      const custom = customRrpcTopic(options, wanted);
      if (custom) filters.push(commandTopics.topicRrpc(custom));
      // A deploy of modified nodes only does not restart the config node that would add ext=1.
      if (custom && !options.extRrpc) node.warn(localize(RED, 'RRPC_EXT_MISSING', { topic: custom }));
      else if (!custom && wanted.trim()) node.error(localize(RED, 'RRPC_TOPIC_INVALID', { topic: wanted.trim() }));
      for (const filter of filters) handles.push(connection.subscribe(filter, 0, receive));
    }

    node.on('close', (removed: boolean, done: () => void) => {
      for (const handle of handles) handle.close(removed);
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-command', AliyunIotCommand);
};
