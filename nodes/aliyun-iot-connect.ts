// Connection events out (one message per state change); connect / disconnect / reconnect / status in
// (login / logout as their sub-device names). A gateway's topology actions, and the cloud's notices.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { ConnectionStatus } from './lib/connection';
import { forwardNotices, GATEWAY_ACTIONS, isGatewayAction, runGatewayAction } from './support/gateway-actions';
import { codedError, describeValue, localizedError } from './support/i18n';
import { linkDevice } from './support/device-link';

interface ConnectDef extends NodeDef {
  device?: string;
}

const ACTIONS = ['connect', 'disconnect', 'reconnect', 'status', 'login', 'logout', ...GATEWAY_ACTIONS] as const;

export = function register(RED: NodeAPI): void {
  function AliyunIotConnect(this: Node, def: ConnectDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const emit = (status: ConnectionStatus) => {
      node.send({ topic: status.state, payload: { ...status } });
    };
    const link = linkDevice(RED, node, def.device, emit);
    const passOn = (notice: NodeMessage): void => node.send(notice);
    let stopNotices = link.ok ? forwardNotices(link.connection, passOn) : undefined;

    node.on('input', (msg, send, done) => {
      if (!link.ok) return done(link.error);
      const action = msg.action;
      if (isGatewayAction(action)) {
        const connection = link.connection;
        return void runGatewayAction(RED, connection, action, msg).then(
          (out) => {
            // The first action made the gateway session: its notices come out from now on.
            stopNotices ??= forwardNotices(connection, passOn);
            send(out);
            done();
          },
          (err: unknown) => done(localizedError(RED, err)),
        );
      }
      switch (action) {
        case 'connect':
        case 'login':
          link.connection.connect();
          return done();
        case 'reconnect':
          link.connection.reconnect();
          return done();
        case 'disconnect':
        case 'logout':
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
      stopNotices?.();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-connect', AliyunIotConnect);
};
