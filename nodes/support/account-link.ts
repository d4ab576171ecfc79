// How the cloud nodes reach their account: the config node's validated settings and its one
// OpenAPI client (so that every node of an account shares one pace per action).
import type { Node, NodeAPI } from 'node-red';
import type { AccountOptions } from '../lib/cloud/account-options';
import type { OpenApiClient } from '../lib/cloud/openapi-client';
import { codedError, localize, type CodedError } from './i18n';
import { problemStatus } from './status';

/** The runtime side of an `aliyun-iot-account` config node. */
export interface AccountConfigNode extends Node<{ accessKeyId?: string; accessKeySecret?: string }> {
  readonly options?: AccountOptions;
  /** Localized reason why the account cannot be used. */
  readonly problem?: string;
  openApi(): OpenApiClient;
}

export type AccountLink =
  { ok: true; config: AccountConfigNode; options: AccountOptions } | { ok: false; error: CodedError };

export function linkAccount(RED: NodeAPI, node: Node, configId: unknown): AccountLink {
  const config =
    typeof configId === 'string' && configId ? (RED.nodes.getNode(configId) as AccountConfigNode | null) : null;
  if (!config?.options) {
    const error = config
      ? codedError(RED, 'ACCOUNT_INVALID', { reason: config.problem ?? '' })
      : codedError(RED, 'ACCOUNT_MISSING');
    node.status(problemStatus(config?.problem ?? localize(RED, 'ACCOUNT_MISSING')));
    return { ok: false, error };
  }
  return { ok: true, config, options: config.options };
}
