// The one place that reaches into private parts of node-red-node-test-helper 0.3.6 and of the
// Node-RED runtime (4.x) it loads: after upgrading either, fix this file and nothing else.
// Why the tests need them, none having a public equivalent:
// - a node's `_complete`: Node-RED routes every done() through it; the only way to see when a node
//   settled a message, and with which error;
// - the helper's `_redNodes` (the runtime's nodes API): stopping the flows without helper.unload()'s
//   context clean (a restart keeps the context), the flows as Node-RED would export them, the context
//   stores the helper leaves out;
// - the helper's `_NodePrototype`, `_sandbox` and `_logSpy`: the sinon spies on every node's methods
//   and on the log, read by the secret scan, emptied by the soak run, restored by a restart-like stop;
// - helper.load / helper.setFlows wrapped: the helper has no hook for the credentials it loads;
// - the helper's `_registryUtil`: its runtime stand-in has no `hooks`, so `RED.hooks` (the message
//   hooks the amqp-in node counts completions with) is missing; `enableMessageHooks()` gives the
//   nodes Node-RED's own hooks, the ones its flows trigger;
// - the helper's `_context`: helper.unload() starts the context clean without waiting for it, so a
//   slow clean (a busy machine) ran into the next test and rejected unhandled (ENOENT on a context
//   directory); `unloadFlows()` waits for it.
import type { NodeMessage } from 'node-red';
import helper from 'node-red-node-test-helper';

/** The Node.prototype methods the helper spies on that tests read. */
export type SpiedMethod = 'status' | 'warn' | 'error' | 'log' | 'send';

/** One recorded call of a spied node method. */
export interface SpyCall {
  args: unknown[];
  thisValue: { type?: string };
}

type Spy = { getCalls(): SpyCall[] };

interface HelperInternals {
  _redNodes: {
    clearRegistry(): void;
    stopFlows(): Promise<void>;
    getFlows(): { flows: unknown } | null;
    loadContextsPlugin(): Promise<void>;
  };
  _NodePrototype: Record<SpiedMethod, Partial<Spy> | undefined>;
  _sandbox: { restore(): void; resetHistory(): void };
  _logSpy?: { restore(): void };
  _context: { clean(flowConfig: { allNodes: unknown[] }): Promise<void> };
}

type Completable = { _complete(msg: NodeMessage, err?: Error): void };

function internals(): HelperInternals {
  return helper as unknown as HelperInternals;
}

/** Calls `listener` on every done() of `node`, before Node-RED handles it. */
export function onComplete(node: object, listener: (msg: NodeMessage, err: Error | undefined) => void): void {
  const target = node as Completable;
  const original = target._complete.bind(target);
  target._complete = (msg, err) => {
    listener(msg, err);
    original(msg, err);
  };
}

/** helper.unload(), but the context clean is finished before the flows stop and before it returns. */
export async function unloadFlows(): Promise<void> {
  const { _redNodes, _logSpy, _sandbox, _context } = internals();
  _redNodes.clearRegistry();
  _logSpy?.restore();
  _sandbox.restore();
  await _context.clean({ allNodes: [] });
  await _redNodes.stopFlows();
}

/** helper.unload() minus its context clean: stops the flows as a Node-RED restart does. */
export async function stopFlowsKeepingContext(): Promise<void> {
  const { _redNodes, _logSpy, _sandbox } = internals();
  _redNodes.clearRegistry();
  _logSpy?.restore();
  _sandbox.restore();
  await _redNodes.stopFlows();
}

/** Every call the helper's spy on `Node.prototype[method]` recorded; empty once helper.unload() removed it. */
export function prototypeSpyCalls(method: SpiedMethod): SpyCall[] {
  const spy = internals()._NodePrototype[method];
  return typeof spy?.getCalls === 'function' ? spy.getCalls() : [];
}

/** The deployed flows as Node-RED would export them. */
export function deployedFlows(): unknown {
  return internals()._redNodes.getFlows()?.flows;
}

/** Forgets the calls the helper's spies recorded, which otherwise grow without bound. */
export function resetSpyHistory(): void {
  internals()._sandbox.resetHistory();
}

/**
 * Settings for a persistent `file` context store in `dir`, with memory as the default store.
 * A lone `file` store is also Node-RED's default: the runtime then lists it twice (`file` and `_`)
 * and every context clean runs twice at once on the same directory, one removing what the other
 * is reading (ENOENT on scandir). Naming the default apart keeps one clean per directory.
 */
export function fileContextSettings(dir: string): Record<string, unknown> {
  return {
    contextStorage: {
      default: { module: 'memory' },
      file: { module: 'localfilesystem', config: { dir, cache: false } },
    },
  };
}

/**
 * Gives nodes `RED.hooks` as a real Node-RED does: the helper builds the node API from a runtime
 * stand-in without it. The hooks are @node-red/util's, the same module the runtime's flows trigger.
 */
export function enableMessageHooks(): void {
  const util = (helper as unknown as { _registryUtil?: { init(runtime: Record<string, unknown>): void } })
    ._registryUtil;
  if (!util || (util.init as { withHooks?: boolean }).withHooks) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { hooks } = require('@node-red/util') as { hooks: unknown };
  const init = util.init.bind(util);
  const withHooks = (runtime: Record<string, unknown>) => {
    runtime.hooks = hooks;
    init(runtime);
  };
  withHooks.withHooks = true;
  util.init = withHooks;
}

/** Loads the context stores of settings.contextStorage, which helper.load() leaves out. */
export async function loadContextStores(): Promise<void> {
  await internals()._redNodes.loadContextsPlugin();
}

/** Wraps helper.load and helper.setFlows so that `callback` sees the credentials of every load and deploy. */
export function rememberCredentialsOnLoad(callback: (credentials: unknown) => void): void {
  const load = helper.load.bind(helper);
  helper.load = (nodes, flow, credentials) => {
    callback(credentials);
    return load(nodes, flow, credentials);
  };
  const setFlows = helper.setFlows.bind(helper);
  helper.setFlows = (flow, type, credentials) => {
    callback(credentials);
    return setFlows(flow, type, credentials);
  };
}
