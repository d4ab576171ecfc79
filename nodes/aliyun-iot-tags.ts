// Device tags (设备标签): `update` adds or changes tags, `delete` removes them; checked against the
// platform's rules before they leave, and the message completes when the platform answered.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { isProblem, tagsClientOf, tagsToDelete, tagsToUpdate, type TagsClient } from './lib/tags';
import { linkDevice } from './support/device-link';
import { codedError, describeValue, localizedError } from './support/i18n';

interface TagsDef extends NodeDef {
  device?: string;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotTags(this: Node, def: TagsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    let client: TagsClient | undefined;
    let release = (): void => undefined;
    if (link.ok) {
      client = tagsClientOf(link.connection);
      release = client.attach();
    }

    node.on('input', (msg, send, done) => {
      if (!link.ok || !client) return done(link.ok ? undefined : link.error);
      const action = (msg as { action?: unknown }).action ?? 'update';
      if (action !== 'update' && action !== 'delete')
        return done(codedError(RED, 'TAGS_ACTION_INVALID', { value: describeValue(action) }));
      const finish = (sent: Promise<unknown>, payload: unknown) =>
        sent.then(
          () => {
            send({ ...msg, topic: action === 'update' ? 'tags-updated' : 'tags-deleted', payload });
            done();
          },
          (err: unknown) => done(localizedError(RED, err)),
        );
      if (action === 'update') {
        const tags = tagsToUpdate(msg.payload);
        if (isProblem(tags)) return done(codedError(RED, tags.code, tags.params));
        return void finish(client.update(tags), tags);
      }
      const keys = tagsToDelete(msg.payload);
      if (isProblem(keys)) return done(codedError(RED, keys.code, keys.params));
      void finish(client.delete(keys), keys);
    });

    node.on('close', (done: () => void) => {
      release();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-tags', AliyunIotTags);
};
