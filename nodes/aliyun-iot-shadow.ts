// The device shadow (设备影子): get, update reported, clear desired, delete; the cloud's desired
// state out, on its push and after every (re)connect, so a flow never misses a change made while
// it was offline. Optionally clears desired once the flow reported the new state.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { toJson } from './lib/payload';
import { deleteKeys } from './lib/shadow';
import { shadowClientOf, type ShadowClient, type ShadowSnapshot } from './lib/shadow-client';
import { linkDevice } from './support/device-link';
import { codedError, describeValue, localizedError } from './support/i18n';

interface ShadowDef extends NodeDef {
  device?: string;
  /** After a successful `update` while a desired state is pending: clear it. */
  autoClear?: boolean | string;
}

const ACTIONS = ['get', 'update', 'clear-desired', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The desired state as the node outputs it: `msg.topic` `desired`, the state, the version. */
function desiredMessage(snapshot: ShadowSnapshot): NodeMessage {
  const { desired, reported, metadata, version } = snapshot;
  return { topic: 'desired', payload: desired, version, reported, metadata };
}

export = function register(RED: NodeAPI): void {
  function AliyunIotShadow(this: Node, def: ShadowDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const autoClear = def.autoClear === true || def.autoClear === 'true';
    let client: ShadowClient | undefined;
    let release = (): void => undefined;
    const onDesired = (snapshot: ShadowSnapshot): void => node.send(desiredMessage(snapshot));
    if (link.ok) {
      client = shadowClientOf(link.connection);
      client.on('desired', onDesired);
      release = client.attach();
    }

    /** Runs one action; resolves with the message that goes out. */
    async function run(shadow: ShadowClient, action: Action, msg: NodeMessage): Promise<NodeMessage> {
      switch (action) {
        case 'get': {
          const snapshot = await shadow.get();
          return { ...msg, topic: 'shadow', payload: snapshot };
        }
        case 'update': {
          const pending = shadow.desiredPending;
          const version = await shadow.report(msg.payload as Record<string, unknown>);
          const cleared = autoClear && pending ? await shadow.clearDesired() : undefined;
          return { ...msg, topic: 'reported', payload: { version: cleared ?? version } };
        }
        case 'clear-desired':
          return { ...msg, topic: 'desired-cleared', payload: { version: await shadow.clearDesired() } };
        case 'delete': {
          const keys = deleteKeys(msg.payload);
          const version = await shadow.deleteReported(keys.ok ? keys.keys : undefined);
          return { ...msg, topic: 'deleted', payload: { version } };
        }
      }
    }

    node.on('input', (msg, send, done) => {
      if (!link.ok || !client) return done(link.ok ? undefined : link.error);
      const m = msg as NodeMessage & { action?: unknown };
      const action = m.action === undefined ? 'update' : m.action;
      if (!ACTIONS.includes(action as Action)) {
        return done(codedError(RED, 'SHADOW_ACTION_INVALID', { value: describeValue(action) }));
      }
      // A reported state must be JSON: a circular one is refused here, not thrown by the client.
      const unsendable = action === 'update' && (!isRecord(msg.payload) || toJson(msg.payload) === undefined);
      if (unsendable || (action === 'delete' && !deleteKeys(msg.payload).ok)) {
        return done(codedError(RED, 'SHADOW_PAYLOAD_INVALID'));
      }
      run(client, action as Action, msg).then(
        (out) => {
          send(out);
          done();
        },
        (err: unknown) => done(localizedError(RED, err)),
      );
    });

    node.on('close', (done: () => void) => {
      client?.off('desired', onDesired);
      release();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-shadow', AliyunIotShadow);
};
