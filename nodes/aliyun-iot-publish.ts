// Publishes msg.payload on a device topic; done() after PUBACK (QoS 1) or the write (QoS 0).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { validateQos } from './lib/options';
import { encodePayload, exceedsPayloadLimit, MAX_PAYLOAD_BYTES } from './lib/payload';
import { checkPublishTopic, expandTopic } from './lib/topic';
import { codedError, localizedError } from './support/i18n';
import { linkDevice } from './support/device-link';

interface PublishDef extends NodeDef {
  device?: string;
  topic?: string;
  qos?: string | number;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotPublish(this: Node, def: PublishDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const nodeTopic = typeof def.topic === 'string' ? def.topic.trim() : '';
    const nodeQos = def.qos === undefined || def.qos === '' ? undefined : def.qos;
    const nodeQosProblem = nodeQos === undefined ? undefined : validateQos(nodeQos);
    // A topic set on the node is expanded and checked once, not per message.
    const fixedTopic = link.ok && nodeTopic ? expandTopic(nodeTopic, link.options) : undefined;
    const fixedProblem = fixedTopic === undefined ? undefined : checkPublishTopic(fixedTopic);

    node.on('input', (msg, _send, done) => {
      if (!link.ok) return done(link.error);
      const topic = fixedTopic ?? expandTopic(typeof msg.topic === 'string' ? msg.topic : '', link.options);
      const topicProblem = fixedTopic === undefined ? checkPublishTopic(topic) : fixedProblem;
      if (topicProblem) return done(codedError(RED, topicProblem, { topic }));
      const qosValue = nodeQos ?? msg.qos ?? 0;
      const qosProblem = nodeQos === undefined ? validateQos(qosValue) : nodeQosProblem;
      if (qosProblem) return done(codedError(RED, qosProblem.code, qosProblem.params));
      const payload = encodePayload(msg.payload);
      if (payload === undefined) return done(codedError(RED, 'PAYLOAD_INVALID'));
      const size = exceedsPayloadLimit(payload);
      if (size !== undefined) return done(codedError(RED, 'PAYLOAD_TOO_LARGE', { size, max: MAX_PAYLOAD_BYTES }));
      const qos = qosValue === 1 || qosValue === '1' ? 1 : 0;
      if (qos === 0 && link.connection.publishNow(topic, payload)) return done();
      link.connection.publish(topic, payload, qos, (err) => {
        if (err) done(localizedError(RED, err));
        else done();
      });
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-publish', AliyunIotPublish);
};
