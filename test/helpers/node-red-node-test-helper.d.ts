// The part of node-red-node-test-helper 0.3 (promise-based) the tests use; it ships no types.
declare module 'node-red-node-test-helper' {
  import type { Node } from 'node-red';
  type Flow = Record<string, unknown>[];
  type Credentials = Record<string, Record<string, string>>;
  const helper: {
    init(runtimePath?: string, userSettings?: Record<string, unknown>): void;
    load(nodes: unknown, flow: Flow, credentials?: Credentials): Promise<void>;
    unload(): Promise<void>;
    setFlows(flow: Flow, type?: 'full' | 'nodes' | 'flows', credentials?: Credentials): Promise<void>;
    getNode(id: string): (Node & Record<string, unknown>) | null;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    clearFlows(): Promise<void>;
    log(): { args: unknown[][]; getCalls(): { args: unknown[] }[] };
    /** Merged over the runtime defaults for the next load. */
    settings(userSettings: Record<string, unknown>): Record<string, unknown>;
  };
  export default helper;
}
