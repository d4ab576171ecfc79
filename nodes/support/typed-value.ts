// A TypedInput setting (msg, flow, global, env, str, num, bool, json, bin, date, jsonata) read for one
// message through Node-RED's own RED.util, as the core nodes read theirs. Constants are evaluated
// once and JSONata prepared once; a msg property is read synchronously, so the default
// `msg.payload` costs no more than reading it by hand.
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { codedError, describeValue } from './i18n';
import { problemStatus } from './status';

export type ReadCallback = (err: Error | null, value?: unknown) => void;
/** Reads the setting for `msg`; calls back exactly once, possibly before returning. */
export type TypedReader = (msg: NodeMessage, callback: ReadCallback) => void;

const CONSTANT = new Set(['str', 'num', 'bool', 'json', 'bin', 'env']);

/**
 * The reader of one TypedInput. `label` names the setting in errors (e.g. "payload"); an invalid
 * constant or JSONata expression fails every message with a localized TYPED_VALUE_INVALID.
 */
export function typedReader(RED: NodeAPI, node: Node, label: string, value: string, type: string): TypedReader {
  // JSONata reports errors as plain objects with a message (and a stack): only the message is shown.
  const reasonOf = (err: unknown): string => {
    const message = (err as { message?: unknown } | null)?.message;
    return typeof message === 'string' ? message : describeValue(err);
  };
  const failed = (err: unknown): Error =>
    codedError(RED, 'TYPED_VALUE_INVALID', { property: label, type, reason: reasonOf(err) });
  /** A setting that can never be read: said at deploy, and failed on every message. */
  const broken = (err: unknown): TypedReader => {
    const error = failed(err);
    node.status(problemStatus(error.message));
    node.error(error.message);
    return (_msg, callback) => callback(error);
  };
  if (type === 'msg') {
    return (msg, callback) => {
      let read: unknown;
      try {
        read = RED.util.getMessageProperty(msg, value);
      } catch (err) {
        return callback(failed(err));
      }
      callback(null, read);
    };
  }
  if (CONSTANT.has(type)) {
    let constant: unknown;
    try {
      constant = RED.util.evaluateNodeProperty(value, type, node, {});
    } catch (err) {
      return broken(err);
    }
    return (_msg, callback) => callback(null, constant);
  }
  if (type === 'jsonata') {
    let expression: ReturnType<NodeAPI['util']['prepareJSONataExpression']>;
    try {
      expression = RED.util.prepareJSONataExpression(value, node);
    } catch (err) {
      return broken(err);
    }
    return (msg, callback) =>
      RED.util.evaluateJSONataExpression(expression, msg, (err, result) => callback(err ? failed(err) : null, result));
  }
  // flow, global (possibly an asynchronous store), date: evaluated per message.
  return (msg, callback) => {
    try {
      RED.util.evaluateNodeProperty(value, type, node, msg, (err, result) =>
        callback(err ? failed(err) : null, result),
      );
    } catch (err) {
      callback(failed(err));
    }
  };
}

/**
 * The reader of a data TypedInput (`payload` / `payloadType` of a node): undefined for msg.payload,
 * the default and what flows from before the setting mean, which nodes read inline on the hot path.
 */
export function dataReader(RED: NodeAPI, node: Node, value?: string, type?: string): TypedReader | undefined {
  const path = value || 'payload';
  const kind = type || 'msg';
  return kind === 'msg' && path === 'payload' ? undefined : typedReader(RED, node, 'payload', path, kind);
}
