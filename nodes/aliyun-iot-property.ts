// Posts properties (`thing.event.property.post`) and outputs the platform's post_reply.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkProperties, thingTopics } from './lib/alink';
import { linkDevice } from './support/device-link';
import { codedError } from './support/i18n';
import { attachThing, postOptionsOf, settlePost, type ThingPostDef } from './support/thing-post';

interface PropertyDef extends NodeDef, ThingPostDef {
  device?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotProperty(this: Node, def: PropertyDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const channel = attachThing(node, link);
    const options = postOptionsOf(def);

    node.on('input', (msg, send, done) => {
      if (!link.ok || !channel) return done(link.ok ? undefined : link.error);
      const problem = checkProperties(msg.payload);
      if (problem) return done(codedError(RED, problem.code, problem.params));
      const topic = thingTopics.propertyPost(link.options);
      settlePost(RED, channel.post(topic, 'thing.event.property.post', msg.payload, options), msg, send, done);
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-property', AliyunIotProperty);
};
