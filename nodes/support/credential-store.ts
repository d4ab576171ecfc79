// Where a config node keeps what dynamic registration obtained: its own context, in a persistent
// store when Node-RED has one, because an activated device can never register again.
import type { Node, NodeAPI } from 'node-red';
import type { CredentialStore, StoredCredentials } from '../lib/login';

const KEY = 'aliyunIotRegistration';

type StorageConfig = Record<string, unknown>;

function moduleOf(storage: StorageConfig, name: string, depth = 0): unknown {
  const entry = storage[name];
  // `default: 'file'` names another store.
  if (typeof entry === 'string') return depth < 4 ? moduleOf(storage, entry, depth + 1) : undefined;
  return (entry as { module?: unknown } | undefined)?.module;
}

/** The store to use: the one named, else the first that is not memory. Undefined: memory only. */
export function pickContextStore(storage: StorageConfig | undefined, wanted: string): string | undefined {
  if (wanted) return wanted;
  if (!storage) return undefined;
  return Object.keys(storage).find((name) => {
    const module = moduleOf(storage, name);
    return module !== undefined && module !== 'memory';
  });
}

export function contextCredentialStore(
  RED: NodeAPI,
  node: Node,
  wanted: string,
): { store: CredentialStore; persistent: boolean } {
  const storage = (RED.settings as unknown as { contextStorage?: StorageConfig }).contextStorage;
  const name = pickContextStore(storage, wanted);
  const context = node.context();
  const store: CredentialStore = {
    load: () =>
      new Promise((resolve, reject) => {
        const cb = (err: Error | undefined, value: unknown) =>
          err ? reject(err) : resolve(value as StoredCredentials | undefined);
        if (name) context.get(KEY, name, cb);
        else context.get(KEY, cb);
      }),
    save: (value) =>
      new Promise((resolve, reject) => {
        const cb = (err?: Error) => (err ? reject(err) : resolve());
        if (name) context.set(KEY, value, name, cb);
        else context.set(KEY, value, cb);
      }),
  };
  return { store, persistent: name !== undefined && moduleOf(storage ?? {}, name) !== 'memory' };
}
