// Remote configuration (远程配置): the product's configuration file, read after every connect (the
// cloud pushes only to devices online at the time) and on input, and pushed by the cloud; fetched,
// checked by SHA-256 and output as JSON when it is JSON. A push is answered once its file verified.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { remoteConfigOf, type ConfigReceived, type RemoteConfigClient } from './lib/remote-config';
import type { AliyunIotError } from './lib/errors';
import { linkDevice } from './support/device-link';
import { codedError, describeValue, localizedError } from './support/i18n';

interface ConfigDef extends NodeDef {
  device?: string;
}

function contentOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function configMessage(received: ConfigReceived): NodeMessage {
  const { configId, configSize, sign } = received.file;
  return {
    topic: 'config',
    payload: contentOf(received.content),
    config: { configId, configSize, sign, source: received.source },
  };
}

export = function register(RED: NodeAPI): void {
  function AliyunIotConfig(this: Node, def: ConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    let client: RemoteConfigClient | undefined;
    let release = (): void => undefined;
    /** The configuration last output: the read after a reconnect outputs only a new one. */
    let lastId: string | undefined;

    const output = (received: ConfigReceived) => {
      lastId = received.file.configId;
      node.send(configMessage(received));
    };
    const onConnected = () => {
      client?.get().then(
        (received) => {
          if (received && received.file.configId !== lastId) output(received);
        },
        (err: unknown) => node.warn(localizedError(RED, err).message),
      );
    };
    const onPushed = (received: ConfigReceived) => output(received);
    const onFailed = (error: AliyunIotError) => {
      const err = localizedError(RED, error);
      node.error(err.message, { topic: 'config-failed', error: err });
    };
    if (link.ok) {
      client = remoteConfigOf(link.connection);
      client.on('connected', onConnected);
      client.on('pushed', onPushed);
      client.on('failed', onFailed);
      release = client.attach();
      if (client.connected) onConnected();
    }

    node.on('input', (msg, send, done) => {
      if (!link.ok || !client) return done(link.ok ? undefined : link.error);
      const action = (msg as { action?: unknown }).action ?? 'get';
      if (action !== 'get') return done(codedError(RED, 'CONFIG_ACTION_INVALID', { value: describeValue(action) }));
      client.get().then(
        (received) => {
          if (received) {
            lastId = received.file.configId;
            send({ ...msg, ...configMessage(received) });
          } else send({ ...msg, topic: 'config', payload: null });
          done();
        },
        (err: unknown) => done(localizedError(RED, err)),
      );
    });

    node.on('close', (done: () => void) => {
      client?.off('connected', onConnected);
      client?.off('pushed', onPushed);
      client?.off('failed', onFailed);
      release();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-config', AliyunIotConfig);
};
