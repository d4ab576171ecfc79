// How a flow node reaches its device: the config node's pooled connection, its state as the node's
// status, and the listeners removed again when the node closes.
import type { Node, NodeAPI } from 'node-red';
import type { ConnectionStatus, DeviceChannel } from '../lib/connection';
import type { DeviceOptions } from '../lib/options';
import type { ThingModel } from '../lib/tsl-model';
import { codedError, localize, type CodedError } from './i18n';
import { nodeStatusOf, problemStatus } from './status';

/** The runtime side of an `aliyun-iot-device` config node, as flow nodes see it. */
export interface DeviceConfigNode extends Node<{ deviceSecret?: string; productSecret?: string }> {
  readonly options?: DeviceOptions;
  readonly connection?: DeviceChannel;
  /** The thing model of its product config node, when it names one with a TSL. */
  readonly model?: ThingModel;
  /** Localized reason why there is no connection (invalid settings, device held elsewhere). */
  readonly problem?: string;
  use(node: Node): void;
  unuse(node: Node): void;
}

export type DeviceLink =
  | {
      ok: true;
      config: DeviceConfigNode;
      connection: DeviceChannel;
      options: DeviceOptions;
      model: ThingModel | undefined;
      close(): void;
    }
  | { ok: false; error: CodedError; close(): void };

export function linkDevice(
  RED: NodeAPI,
  node: Node,
  configId: unknown,
  onState?: (s: ConnectionStatus) => void,
): DeviceLink {
  const config =
    typeof configId === 'string' && configId ? (RED.nodes.getNode(configId) as DeviceConfigNode | null) : null;
  if (!config?.connection || !config.options) {
    const error = config
      ? codedError(RED, 'CONFIG_INVALID', { reason: config.problem ?? '' })
      : codedError(RED, 'CONFIG_MISSING');
    node.status(problemStatus(config?.problem ?? localize(RED, 'CONFIG_MISSING')));
    return { ok: false, error, close: () => undefined };
  }
  const connection = config.connection;
  const listener = (status: ConnectionStatus) => {
    node.status(nodeStatusOf(RED, status));
    onState?.(status);
  };
  connection.on('state', listener);
  node.status(nodeStatusOf(RED, connection.status));
  config.use(node);
  return {
    ok: true,
    config,
    connection,
    options: config.options,
    model: config.model,
    close: () => {
      connection.off('state', listener);
      config.unuse(node);
    },
  };
}
