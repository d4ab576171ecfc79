// Config node: an Alibaba Cloud account as an application uses it (PLATFORM.md §17): the AccessKey
// (both parts credentials: never exported, logged or shown), region, instance ID and where the
// OpenAPI and the AMQP subscription are. The cloud-api and amqp-in nodes name it.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { validateAccountOptions } from './lib/cloud/account-options';
import { OpenApiClient } from './lib/cloud/openapi-client';
import type { AccountConfigNode } from './support/account-link';
import { localize } from './support/i18n';

interface AccountDef extends NodeDef, Record<string, unknown> {}
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export = function register(RED: NodeAPI): void {
  function AliyunIotAccount(this: Mutable<AccountConfigNode>, def: AccountDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const result = validateAccountOptions({ ...def, ...node.credentials });
    let client: OpenApiClient | undefined;
    if (result.ok) {
      node.options = result.options;
      if (!result.options.tls.rejectUnauthorized) node.warn(localize(RED, 'TLS_UNVERIFIED_ACCOUNT'));
    } else {
      node.problem = result.errors.map((e) => localize(RED, e.code, e.params)).join('; ');
      node.error(localize(RED, 'ACCOUNT_INVALID', { reason: node.problem }));
    }
    // One client per account: every cloud-api node of the account waits in the same line per action.
    node.openApi = () => {
      if (!node.options) throw new Error(node.problem ?? 'invalid account');
      client ??= new OpenApiClient(node.options);
      return client;
    };
    node.on('close', (done: () => void) => {
      client?.close();
      client = undefined;
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-account', AliyunIotAccount as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { accessKeyId: { type: 'text' }, accessKeySecret: { type: 'password' } },
  });
};
