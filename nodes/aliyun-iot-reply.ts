// Answers a command from the command node (msg.aliyun) with msg.code and msg.payload, on its
// `_reply` topic, the RRPC response topic or the `/ext/rrpc/` topic it came on; raw data and
// custom-topic RRPC with msg.payload's bytes. A second answer to one command is refused.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { answeredRaw, commandBookOf, commandFrom, replyBody, replyTopic } from './lib/commands';
import { checkServiceReply } from './lib/tsl-check';
import { encodePayload, exceedsPayloadLimit, MAX_PAYLOAD_BYTES } from './lib/payload';
import { linkDevice } from './support/device-link';
import { codedError, describeValue, localize, localizedError } from './support/i18n';

interface ReplyDef extends NodeDef {
  device?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotReply(this: Node, def: ReplyDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);

    node.on('input', (msg, _send, done) => {
      if (!link.ok) return done(link.error);
      const m = msg as typeof msg & { aliyun?: unknown; code?: unknown; message?: unknown; replyTopic?: unknown };
      const command = commandFrom(m.aliyun);
      if (!command) return done(codedError(RED, 'COMMAND_MISSING'));
      const { productKey, deviceName } = link.options;
      if (command.productKey !== productKey || command.deviceName !== deviceName)
        return done(codedError(RED, 'COMMAND_OTHER_DEVICE', { device: `${command.productKey}/${command.deviceName}` }));
      const code = m.code === undefined ? 200 : m.code;
      if (typeof code !== 'number' || !Number.isInteger(code))
        return done(codedError(RED, 'CODE_INVALID', { value: describeValue(code) }));
      // A service's successful answer is checked and converted by the thing model's output data.
      let data = msg.payload;
      if (link.model && code === 200 && command.kind !== 'property-set' && command.serviceId) {
        const checked = checkServiceReply(link.model, command.serviceId, data);
        if (!checked.ok) return done(codedError(RED, checked.problem.code, checked.problem.params));
        data = checked.value;
      }
      // Raw data, custom-topic and raw RRPC (no Alink id) are answered with the payload itself.
      const body = answeredRaw(command)
        ? encodePayload(msg.payload)
        : replyBody(command, code, data, typeof m.message === 'string' ? m.message : undefined);
      const rawReply = m.replyTopic ?? 'up_raw';
      if (rawReply !== 'up_raw' && rawReply !== 'down_raw_reply')
        return done(codedError(RED, 'RAW_REPLY_TOPIC_INVALID', { value: describeValue(rawReply) }));
      if (body === undefined) return done(codedError(RED, 'PAYLOAD_INVALID'));
      const size = exceedsPayloadLimit(body);
      if (size !== undefined) return done(codedError(RED, 'PAYLOAD_TOO_LARGE', { size, max: MAX_PAYLOAD_BYTES }));
      const answered = commandBookOf(link.connection).answer(command);
      if (answered === 'duplicate')
        return done(codedError(RED, 'REPLY_DUPLICATE', { id: command.id || command.messageId }));
      if (answered === 'late') node.warn(localize(RED, 'REPLY_LATE', { id: command.id || command.messageId }));
      const { topic, qos } = replyTopic(command, rawReply);
      link.connection.publish(topic, body, qos, (err) => done(err ? localizedError(RED, err) : undefined));
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-reply', AliyunIotReply);
};
