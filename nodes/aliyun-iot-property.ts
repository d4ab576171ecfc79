// Posts properties (`thing.event.property.post`) and outputs the platform's post_reply.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkProperties, thingTopics } from './lib/alink';
import { linkDevice } from './support/device-link';
import { codedError } from './support/i18n';
import { checkPropertyPost } from './lib/tsl-check';
import {
  acceptedByModel,
  attachThing,
  postDataReader,
  postOptionsOf,
  settlePost,
  unknownPolicyOf,
  type ThingPostDef,
} from './support/thing-post';

interface PropertyDef extends NodeDef, ThingPostDef {
  device?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotProperty(this: Node, def: PropertyDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const channel = attachThing(node, link);
    const readData = postDataReader(RED, node, def);
    const postOptions = postOptionsOf(def);
    const policy = unknownPolicyOf(def);

    node.on('input', (msg, send, done) => {
      if (!link.ok || !channel) return done(link.ok ? undefined : link.error);
      const post = (properties: unknown): void => {
        const problem = checkProperties(properties);
        if (problem) return done(codedError(RED, problem.code, problem.params));
        let params = properties;
        if (link.model) {
          const checked = checkPropertyPost(link.model, properties as Record<string, unknown>, policy);
          const accepted = acceptedByModel(RED, node, checked, done);
          if (!accepted) return;
          params = accepted.value;
        }
        const topic = thingTopics.propertyPost(link.options);
        settlePost(RED, channel.post(topic, 'thing.event.property.post', params, postOptions), msg, send, done);
      };
      if (!readData) return post(msg.payload);
      readData(msg, (err, value) => (err ? done(err) : post(value)));
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-property', AliyunIotProperty);
};
