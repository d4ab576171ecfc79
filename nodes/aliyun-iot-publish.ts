// Publishes a payload (msg.payload unless the node names another source) on a device topic (the
// node's, else msg.topic); done() after PUBACK (QoS 1) or the write (QoS 0).
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { validateQos } from './lib/options';
import { encodePayload, exceedsPayloadLimit, MAX_PAYLOAD_BYTES } from './lib/payload';
import { checkPublishTopic, expandTopic } from './lib/topic';
import { codedError, localizedError } from './support/i18n';
import { linkDevice } from './support/device-link';
import { dataReader, typedReader } from './support/typed-value';

interface PublishDef extends NodeDef {
  device?: string;
  topic?: string;
  /** TypedInput type of `topic`; absent in flows from before it existed: a plain string. */
  topicType?: string;
  qos?: string | number;
  /** TypedInput of the payload; absent: msg.payload. */
  payload?: string;
  payloadType?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotPublish(this: Node, def: PublishDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    // A str topic (blank: msg.topic) and msg.payload, the defaults, are read inline: the hot path.
    const topicType = def.topicType || 'str';
    const nodeTopic = topicType === 'str' && typeof def.topic === 'string' ? def.topic.trim() : '';
    const nodeQos = def.qos === undefined || def.qos === '' ? undefined : def.qos;
    const nodeQosProblem = nodeQos === undefined ? undefined : validateQos(nodeQos);
    // A topic set on the node is expanded and checked once, not per message.
    const fixedTopic = link.ok && nodeTopic ? expandTopic(nodeTopic, link.options) : undefined;
    const fixedProblem = fixedTopic === undefined ? undefined : checkPublishTopic(fixedTopic);

    const topicReader = topicType === 'str' ? undefined : typedReader(RED, node, 'topic', def.topic ?? '', topicType);
    const payloadReader = dataReader(RED, node, def.payload, def.payloadType);

    function publish(
      topic: string,
      checked: boolean,
      value: unknown,
      msg: NodeMessage,
      done: (err?: Error) => void,
    ): void {
      if (!link.ok) return done(link.error);
      const topicProblem = checked ? fixedProblem : checkPublishTopic(topic);
      if (topicProblem) return done(codedError(RED, topicProblem, { topic }));
      const qosValue = nodeQos ?? msg.qos ?? 0;
      const qosProblem = nodeQos === undefined ? validateQos(qosValue) : nodeQosProblem;
      if (qosProblem) return done(codedError(RED, qosProblem.code, qosProblem.params));
      const payload = encodePayload(value);
      if (payload === undefined) return done(codedError(RED, 'PAYLOAD_INVALID'));
      const size = exceedsPayloadLimit(payload);
      if (size !== undefined) return done(codedError(RED, 'PAYLOAD_TOO_LARGE', { size, max: MAX_PAYLOAD_BYTES }));
      const qos = qosValue === 1 || qosValue === '1' ? 1 : 0;
      if (qos === 0 && link.connection.publishNow(topic, payload)) return done();
      link.connection.publish(topic, payload, qos, (err) => {
        if (err) done(localizedError(RED, err));
        else done();
      });
    }

    const device = link.ok ? link.options : undefined;
    const topicOf = (template: unknown): string =>
      fixedTopic ?? (device ? expandTopic(typeof template === 'string' ? template : '', device) : '');

    node.on('input', (msg, _send, done) => {
      if (!link.ok) return done(link.error);
      const checked = fixedTopic !== undefined;
      if (!topicReader && !payloadReader) return publish(topicOf(msg.topic), checked, msg.payload, msg, done);
      const withPayload = (topic: string): void => {
        if (!payloadReader) return publish(topic, checked, msg.payload, msg, done);
        payloadReader(msg, (err, value) => (err ? done(err) : publish(topic, checked, value, msg, done)));
      };
      if (!topicReader) return withPayload(topicOf(msg.topic));
      topicReader(msg, (err, template) => (err ? done(err) : withPayload(topicOf(template))));
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-publish', AliyunIotPublish);
};
