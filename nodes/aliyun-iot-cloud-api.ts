// The platform's OpenAPI from a flow (PLATFORM.md §17.2): an action (the node's, else msg.action)
// with msg.payload as its parameters, encoded as the platform wants them (openapi-params.ts),
// signed and paced by the account's client. The answer goes out in msg.payload; a refusal is
// done(err) with the platform's Code and RequestId.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { AliyunIotError } from './lib/errors';
import { actionParams, decodedAnswer, isActionName, withoutSecrets } from './lib/cloud/openapi-params';
import { linkAccount } from './support/account-link';
import { codedError, describeValue, localizedError, type CodedError } from './support/i18n';

interface CloudApiDef extends NodeDef {
  account?: string;
  /** A known action, `other` (then `actionName`), or blank: msg.action decides. */
  action?: string;
  actionName?: string;
  /** Keep DeviceSecret / ProductSecret in answers (provisioning flows); removed by default. */
  keepSecrets?: boolean;
}

type CloudMessage = NodeMessage & {
  action?: unknown;
  requestId?: string;
  reply?: Buffer;
  result?: unknown;
  redacted?: string[];
};

/** A refusal by the platform keeps its Code (string) and RequestId for catch nodes. */
function platformError(RED: NodeAPI, err: unknown): CodedError & { requestId?: string } {
  const out: CodedError & { requestId?: string } = localizedError(RED, err);
  if (err instanceof AliyunIotError && err.code === 'API_FAILED') {
    out.code = String(err.params.code);
    out.requestId = typeof err.params.requestId === 'string' ? err.params.requestId : '';
  }
  return out;
}

export = function register(RED: NodeAPI): void {
  function AliyunIotCloudApi(this: Node, def: CloudApiDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkAccount(RED, node, def.account);
    const fixed = def.action === 'other' ? (def.actionName ?? '').trim() : (def.action ?? '').trim();
    let calls = 0;

    node.on('input', (msg: CloudMessage, send, done) => {
      if (!link.ok) return done(link.error);
      const action = fixed || msg.action;
      if (!isActionName(action)) return done(codedError(RED, 'API_ACTION_INVALID', { value: describeValue(action) }));
      const built = actionParams(msg.payload);
      if ('problem' in built) return done(codedError(RED, built.problem.code, built.problem.params));
      calls += 1;
      node.status({ fill: 'blue', shape: 'dot', text: `${action} …` });
      link.config
        .openApi()
        .call(action, built.params)
        .then(
          (answer) => {
            calls -= 1;
            if (calls === 0) node.status({ fill: 'green', shape: 'dot', text: action });
            const requestId = typeof answer.RequestId === 'string' ? answer.RequestId : undefined;
            const out: CloudMessage = { ...msg, action, requestId, ...decodedAnswer(action, answer) };
            if (def.keepSecrets === true) out.payload = answer;
            else {
              const { value, removed } = withoutSecrets(answer);
              out.payload = value;
              if (removed.length > 0) out.redacted = removed;
            }
            send(out);
            done();
          },
          (err: unknown) => {
            calls -= 1;
            const error = platformError(RED, err);
            // A catch node sees msg, not the error's own fields: the RequestId goes on msg too.
            if (error.requestId) msg.requestId = error.requestId;
            node.status({ fill: 'red', shape: 'ring', text: `${action}: ${String(error.code ?? '')}` });
            done(error);
          },
        );
    });
  }

  RED.nodes.registerType('aliyun-iot-cloud-api', AliyunIotCloudApi);
};
