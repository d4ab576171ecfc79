// What a node keeps across restarts in its own context, in a persistent store when Node-RED has
// one: what dynamic registration obtained (an activated device can never register again), the
// firmware versions an OTA node reported.
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

/** One value kept in a node's context, in the store `pickContextStore` chooses. */
export interface ContextSlot<T> {
  load(): Promise<T | undefined>;
  save(value: T): Promise<void>;
  /** False: memory only, lost at a restart. */
  persistent: boolean;
}

export function contextSlot<T>(RED: NodeAPI, node: Node, key: string, wanted = ''): ContextSlot<T> {
  const storage = (RED.settings as unknown as { contextStorage?: StorageConfig }).contextStorage;
  const name = pickContextStore(storage, wanted);
  const context = node.context();
  return {
    load: () =>
      new Promise((resolve, reject) => {
        const cb = (err: Error | undefined, value: unknown) => (err ? reject(err) : resolve(value as T | undefined));
        if (name) context.get(key, name, cb);
        else context.get(key, cb);
      }),
    save: (value) =>
      new Promise((resolve, reject) => {
        const cb = (err?: Error) => (err ? reject(err) : resolve());
        if (name) context.set(key, value, name, cb);
        else context.set(key, value, cb);
      }),
    persistent: name !== undefined && moduleOf(storage ?? {}, name) !== 'memory',
  };
}

export function contextCredentialStore(
  RED: NodeAPI,
  node: Node,
  wanted: string,
): { store: CredentialStore; persistent: boolean } {
  const slot = contextSlot<StoredCredentials>(RED, node, KEY, wanted);
  return { store: { load: () => slot.load(), save: (value) => slot.save(value) }, persistent: slot.persistent };
}
