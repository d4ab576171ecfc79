// Posts an event (`thing.event.<id>.post`) and outputs the platform's post_reply.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkEvent, thingTopics } from './lib/alink';
import { linkDevice } from './support/device-link';
import { codedError } from './support/i18n';
import { checkEventPost } from './lib/tsl-check';
import {
  acceptedByModel,
  attachThing,
  postDataReader,
  postOptionsOf,
  settlePost,
  unknownPolicyOf,
  type ThingPostDef,
} from './support/thing-post';

interface EventDef extends NodeDef, ThingPostDef {
  device?: string;
  event?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotEvent(this: Node, def: EventDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const channel = attachThing(node, link);
    const options = postOptionsOf(def);
    const policy = unknownPolicyOf(def);
    const readData = postDataReader(RED, node, def);
    const nodeEvent = typeof def.event === 'string' ? def.event.trim() : '';

    node.on('input', (msg, send, done) => {
      if (!link.ok || !channel) return done(link.ok ? undefined : link.error);
      const m = msg as typeof msg & { event?: unknown; time?: unknown };
      const eventId = nodeEvent || (typeof m.event === 'string' ? m.event : '');
      const post = (value: unknown): void => {
        const problem = checkEvent(eventId, value, m.time);
        if (problem) return done(codedError(RED, problem.code, { ...problem.params, value: eventId }));
        let data = value;
        if (link.model) {
          const accepted = acceptedByModel(RED, node, checkEventPost(link.model, eventId, value, policy), done);
          if (!accepted) return;
          data = accepted.value;
        }
        const params = m.time === undefined ? { value: data } : { value: data, time: m.time };
        const topic = thingTopics.eventPost(link.options, eventId);
        settlePost(RED, channel.post(topic, `thing.event.${eventId}.post`, params, options), msg, send, done);
      };
      if (!readData) return post(msg.payload);
      readData(msg, (err, value) => (err ? done(err) : post(value)));
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-event', AliyunIotEvent);
};
