// Delivers messages on a device topic filter from the connection's shared router. Input actions
// `subscribe` / `unsubscribe` with msg.topic add and drop filters at run time.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { Delivery, SubscriptionHandle } from './lib/connection';
import type { Problem } from './lib/errors';
import { validateQos } from './lib/options';
import { decodePayload, isOutputFormat, type OutputFormat } from './lib/payload';
import { checkFilter, expandTopic } from './lib/topic';
import { codedError, describeValue } from './support/i18n';
import { linkDevice } from './support/device-link';
import { problemStatus } from './support/status';

interface SubscribeDef extends NodeDef {
  device?: string;
  topic?: string;
  qos?: string | number;
  format?: string;
  /** The msg property the message's data goes to; absent (older flows): payload. */
  property?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotSubscribe(this: Node, def: SubscribeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const format: OutputFormat = isOutputFormat(def.format) ? def.format : 'auto';
    const defaultQos: 0 | 1 = Number(def.qos) === 1 ? 1 : 0;
    const handles = new Map<string, SubscriptionHandle>();
    const property = typeof def.property === 'string' && def.property.trim() ? def.property.trim() : 'payload';

    function deliver(delivery: Delivery): void {
      const decoded = decodePayload(delivery.payload, format);
      const data = decoded.ok ? decoded.value : delivery.payload.toString('utf8');
      const msg: NodeMessage = {
        topic: delivery.topic,
        qos: delivery.qos,
        retain: delivery.retain,
        aliyun: link.ok ? { productKey: link.options.productKey, deviceName: link.options.deviceName } : {},
      };
      if (property === 'payload') msg.payload = data;
      else RED.util.setMessageProperty(msg, property, data, true);
      // Reported with the message, so a Catch node sees it; nothing is sent on.
      if (!decoded.ok) return node.error(codedError(RED, 'PAYLOAD_NOT_JSON', { topic: delivery.topic }).message, msg);
      node.send(msg);
    }

    /** Returns an error code when the filter cannot be subscribed. */
    function add(template: string, qos: 0 | 1): Problem | undefined {
      if (!link.ok) return undefined;
      const filter = expandTopic(template, link.options);
      const problem = checkFilter(filter);
      if (problem) return { code: problem, params: { topic: filter } };
      if (handles.has(filter)) return undefined;
      const refused = (code: number) => {
        const message = codedError(RED, 'SUBSCRIBE_REFUSED', { topic: filter, code }).message;
        node.status(problemStatus(message));
        node.warn(message);
      };
      handles.set(filter, link.connection.subscribe(filter, qos, deliver, refused));
      return undefined;
    }

    const staticTopic = typeof def.topic === 'string' ? def.topic.trim() : '';
    if (staticTopic && link.ok) {
      const problem = add(staticTopic, defaultQos);
      if (problem) {
        const err = codedError(RED, problem.code, problem.params);
        node.status(problemStatus(err.message));
        node.error(err.message);
      }
    }

    node.on('input', (msg, _send, done) => {
      if (!link.ok) return done(link.error);
      const action = msg.action;
      const template = typeof msg.topic === 'string' ? msg.topic : '';
      if (action !== 'subscribe' && action !== 'unsubscribe') {
        return done(
          codedError(RED, 'ACTION_INVALID', { action: describeValue(action), allowed: 'subscribe, unsubscribe' }),
        );
      }
      if (!template.trim()) return done(codedError(RED, 'TOPIC_MISSING'));
      if (action === 'unsubscribe') {
        const filter = expandTopic(template, link.options);
        handles.get(filter)?.close(true);
        handles.delete(filter);
        return done();
      }
      const qosValue = msg.qos ?? defaultQos;
      const qosProblem = validateQos(qosValue);
      if (qosProblem) return done(codedError(RED, qosProblem.code, qosProblem.params));
      const problem = add(template, Number(qosValue) === 1 ? 1 : 0);
      if (problem) return done(codedError(RED, problem.code, problem.params));
      done();
    });

    node.on('close', (removed: boolean, done: () => void) => {
      for (const handle of handles.values()) handle.close(removed);
      handles.clear();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-subscribe', AliyunIotSubscribe);
};
