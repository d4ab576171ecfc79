// Connection events out (one message per state change); connect / disconnect / reconnect / status in.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { ConnectionStatus } from './lib/connection';
import { codedError, describeValue } from './support/i18n';
import { linkDevice } from './support/device-link';

interface ConnectDef extends NodeDef {
  device?: string;
}

const ACTIONS = ['connect', 'disconnect', 'reconnect', 'status'] as const;

export = function register(RED: NodeAPI): void {
  function AliyunIotConnect(this: Node, def: ConnectDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const emit = (status: ConnectionStatus) => {
      node.send({ topic: status.state, payload: { ...status } });
    };
    const link = linkDevice(RED, node, def.device, emit);

    node.on('input', (msg, send, done) => {
      if (!link.ok) return done(link.error);
      const action = msg.action;
      switch (action) {
        case 'connect':
          link.connection.connect();
          return done();
        case 'reconnect':
          link.connection.reconnect();
          return done();
        case 'disconnect':
          link.connection.disconnect().then(
            () => done(),
            (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
          );
          return;
        case 'status': {
          const status = link.connection.status;
          send({ ...msg, topic: status.state, payload: { ...status } });
          return done();
        }
        default:
          done(codedError(RED, 'ACTION_INVALID', { action: describeValue(action), allowed: ACTIONS.join(', ') }));
      }
    });

    node.on('close', (done: () => void) => {
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-connect', AliyunIotConnect);
};
