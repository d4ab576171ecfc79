// One DeviceConnection per device (endpoint host + productKey + deviceName): the platform allows one
// connection per device and kicks the older one, whatever its clientId. Config nodes lease from here.
import { createHash } from 'node:crypto';
import { DeviceConnection, type ConnectionStorage, type ConnectionTuning } from './connection';
import { mqttHost } from './endpoint';
import { AliyunIotError } from './errors';
import type { DeviceOptions } from './options';

export const DEFAULT_RELEASE_GRACE_MS = 5_000;

interface Entry {
  readonly key: string;
  readonly fingerprint: string;
  readonly connection: DeviceConnection;
  /** Config node id -> its name, for "already held by" messages. */
  readonly holders: Map<string, string>;
  closeTimer?: NodeJS.Timeout;
}

export interface Lease {
  readonly connection: DeviceConnection;
  /** `removed`: the config node was deleted, so nothing waits for a handover. */
  release(removed: boolean): Promise<void>;
}

export function deviceKeyOf(options: DeviceOptions): string {
  return `${mqttHost(options)}|${options.productKey}|${options.deviceName}`;
}

/** Every setting that changes how the device logs in, the secret included, hashed. */
export function fingerprintOf(options: DeviceOptions): string {
  return createHash('sha256')
    .update(JSON.stringify({ ...options, name: '' }))
    .digest('hex');
}

export class ConnectionPool {
  private readonly entries = new Map<string, Entry>();
  /** Connections being closed, so a changed successor logs in only after the old one logged out. */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(
    private graceMs = DEFAULT_RELEASE_GRACE_MS,
    private tuning: Partial<ConnectionTuning> = {},
  ) {}

  /** Changes the grace period and the tuning of connections created from now on (tests, tools). */
  configure(settings: { graceMs?: number; tuning?: Partial<ConnectionTuning> }): void {
    if (settings.graceMs !== undefined) this.graceMs = settings.graceMs;
    if (settings.tuning) this.tuning = { ...this.tuning, ...settings.tuning };
  }

  /**
   * Shares the device's connection with a config node of the same settings; refuses one with
   * different settings while another config node holds the device.
   */
  lease(holderId: string, holderName: string, options: DeviceOptions, storage: ConnectionStorage = {}): Lease {
    const key = deviceKeyOf(options);
    const fingerprint = fingerprintOf(options);
    let entry = this.entries.get(key);
    if (entry && entry.fingerprint !== fingerprint) {
      const others = [...entry.holders].filter(([id]) => id !== holderId);
      if (others.length > 0) {
        const [id, name] = others[0] ?? ['', ''];
        throw new AliyunIotError('DEVICE_IN_USE', {
          holder: name || id,
          device: `${options.productKey}/${options.deviceName}`,
        });
      }
      void this.retire(entry);
      entry = undefined;
    }
    if (!entry) {
      const connection = new DeviceConnection(options, this.tuning, this.closing.get(key), storage);
      entry = { key, fingerprint, connection, holders: new Map() };
      this.entries.set(key, entry);
    }
    clearTimeout(entry.closeTimer);
    entry.closeTimer = undefined;
    entry.holders.set(holderId, holderName);
    const held = entry;
    let released = false;
    return {
      connection: held.connection,
      release: async (removed) => {
        if (released) return;
        released = true;
        held.holders.delete(holderId);
        if (held.holders.size > 0 || this.entries.get(key) !== held) return;
        if (removed) return this.retire(held);
        held.closeTimer = setTimeout(() => void this.retire(held), this.graceMs);
      },
    };
  }

  private retire(entry: Entry): Promise<void> {
    clearTimeout(entry.closeTimer);
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    const done = entry.connection.close().finally(() => {
      if (this.closing.get(entry.key) === done) this.closing.delete(entry.key);
    });
    this.closing.set(entry.key, done);
    return done;
  }

  /** Resolves once every connection being retired has logged out (tests, tools). */
  async idle(): Promise<void> {
    await Promise.all([...this.closing.values()]);
  }

  /** Live connections, for tests and diagnostics. */
  get size(): number {
    return this.entries.size;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.retire(e)));
  }
}

/** The process-wide pool every node file shares. */
export const sharedPool = new ConnectionPool();
