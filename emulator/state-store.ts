// The emulator's state on disk (`<dataDir>/state.json`), so a restart keeps what devices obtained:
// registered secrets, registration-free tokens, activation, product secrets, HTTPS-auth tokens,
// gateways' topology, device shadows, device tags, and devices disabled or deleted from the cloud.
// Written atomically (temporary file, fsync, rename), coalesced, readable only by its owner. A file
// that cannot be used is reported with its path and set aside, never fatal and never overwritten.
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { storedShadowProblem, type StoredShadow } from './shadow';

export interface StoredDevice {
  productKey: string;
  deviceName: string;
  deviceSecret?: string;
  activated: boolean;
  registrationFree?: { clientId: string; deviceToken: string };
  /** A gateway by its own spec (its product's node type is kept with the product). */
  nodeType?: 'gateway';
  /** Disabled from the cloud API (emulator/lifecycle.ts). */
  disabled?: boolean;
  /** Device tags (emulator/tags.ts). */
  tags?: Record<string, string>;
}

export interface StoredProduct {
  productKey: string;
  productSecret?: string;
  nodeType?: 'device' | 'gateway';
}

/** A gateway's topology, devices named `pk&dn` (PLATFORM.md §11: it outlives connections). */
export interface StoredTopology {
  gateway: string;
  subDevices: string[];
}

export interface StoredToken {
  iotId: string;
  iotToken: string;
  expiresAt: number;
  productKey: string;
  deviceName: string;
}

/**
 * Version 1 holds devices, products, tokens and (optional, so older files still load) gateways'
 * topology and device shadows. OTA jobs and remote configuration are not kept: their download
 * URLs are signed with a key of the running process (emulator/files.ts).
 */
export interface StoredState {
  version: 1;
  devices: StoredDevice[];
  products: StoredProduct[];
  tokens: StoredToken[];
  topology?: StoredTopology[];
  shadows?: StoredShadow[];
  /** `pk&dn` of devices deleted from the cloud API (emulator/lifecycle.ts): a login naming one gets CONNACK 5. */
  deleted?: string[];
}

export const STATE_FILE = 'state.json';
/** Changes within this time share one write. */
export const WRITE_DELAY_MS = 200;

type Check = (value: unknown, at: string) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function fields(spec: Record<string, [kind: 'string' | 'boolean' | 'number' | 'object', optional: boolean]>): Check {
  return (value, at) => {
    if (!isObject(value)) return `${at} is not an object`;
    for (const [name, [kind, optional]] of Object.entries(spec)) {
      const v = value[name];
      if (v === undefined && optional) continue;
      const ok =
        kind === 'object'
          ? isObject(v) && typeof v.clientId === 'string' && typeof v.deviceToken === 'string'
          : kind === 'number'
            ? typeof v === 'number' && Number.isFinite(v)
            : typeof v === kind && (kind !== 'string' || v !== '' || optional);
      // Only names and places: the values may be secrets.
      if (!ok) return `${at}.${name} is missing or not a valid ${kind}`;
    }
    return undefined;
  };
}

const CHECKS: Record<'devices' | 'products' | 'tokens', Check> = {
  devices: fields({
    productKey: ['string', false],
    deviceName: ['string', false],
    deviceSecret: ['string', true],
    activated: ['boolean', false],
    registrationFree: ['object', true],
    disabled: ['boolean', true],
  }),
  products: fields({ productKey: ['string', false], productSecret: ['string', true] }),
  tokens: fields({
    iotId: ['string', false],
    iotToken: ['string', false],
    expiresAt: ['number', false],
    productKey: ['string', false],
    deviceName: ['string', false],
  }),
};

/** What is wrong with the parsed file, or undefined when it is a usable state. */
export function stateProblem(json: unknown): string | undefined {
  if (!isObject(json)) return 'is not a JSON object';
  if (json.version !== 1) {
    return typeof json.version === 'number' && json.version > 1
      ? `was written by a newer emulator (version ${json.version})`
      : 'has no known version';
  }
  const topology = json.topology ?? [];
  if (!Array.isArray(topology)) return 'topology is not a list';
  for (const [i, item] of topology.entries()) {
    const ok =
      isObject(item) &&
      typeof item.gateway === 'string' &&
      Array.isArray(item.subDevices) &&
      item.subDevices.every((d) => typeof d === 'string');
    if (!ok) return `topology[${i}] is not {gateway, subDevices: [names]}`;
  }
  const shadows = json.shadows ?? [];
  if (!Array.isArray(shadows)) return 'shadows is not a list';
  for (const [i, item] of shadows.entries()) {
    const problem = storedShadowProblem(item, `shadows[${i}]`);
    if (problem) return problem;
  }
  const deleted = json.deleted ?? [];
  if (!Array.isArray(deleted) || !deleted.every((d) => typeof d === 'string')) return 'deleted is not a list of names';
  for (const [i, device] of (Array.isArray(json.devices) ? json.devices : []).entries()) {
    const tags = isObject(device) ? device.tags : undefined;
    if (tags !== undefined && !(isObject(tags) && Object.values(tags).every((v) => typeof v === 'string')))
      return `devices[${i}].tags is not an object of strings`;
  }
  for (const [list, check] of Object.entries(CHECKS)) {
    const items = json[list] ?? [];
    if (!Array.isArray(items)) return `${list} is not a list`;
    for (const [i, item] of items.entries()) {
      const problem = check(item, `${list}[${i}]`);
      if (problem) return problem;
    }
  }
  return undefined;
}

export class StateStore {
  readonly path: string;
  private timer: NodeJS.Timeout | undefined;
  private snapshot: (() => StoredState) | undefined;
  /** False when a bad file could not be set aside: this run then leaves it alone. */
  private writable = true;
  private closed = false;
  private lastError: string | undefined;

  constructor(
    dir: string,
    private readonly log: (line: string) => void,
  ) {
    // Bad input (a file in the way, no permission) is the caller's error, said plainly.
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new Error(`dataDir ${dir} cannot be used: ${messageOf(err)}`);
    }
    this.path = join(dir, STATE_FILE);
  }

  /** The stored state; undefined when there is none or it cannot be used (then reported). */
  load(): StoredState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.setAside(`cannot be read (${messageOf(err)})`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Not the parser's message: it quotes the file, secrets included.
      this.setAside('is not valid JSON');
      return undefined;
    }
    const problem = stateProblem(json);
    if (problem) {
      this.setAside(problem);
      return undefined;
    }
    const state = json as Partial<StoredState>;
    return {
      version: 1,
      devices: state.devices ?? [],
      products: state.products ?? [],
      tokens: state.tokens ?? [],
      topology: state.topology ?? [],
      shadows: state.shadows ?? [],
      deleted: state.deleted ?? [],
    };
  }

  private setAside(reason: string): void {
    const aside = `${this.path}.corrupt-${Date.now()}`;
    try {
      renameSync(this.path, aside);
      this.log(`aliyun-iot-emulator: ${this.path} ${reason}; moved it to ${aside} and started without the saved state`);
    } catch (err) {
      this.writable = false;
      this.log(
        `aliyun-iot-emulator: ${this.path} ${reason} and could not be moved aside (${messageOf(err)}); started without the saved state, and this run will not save its state over that file`,
      );
    }
  }

  /** Saves `snapshot()` now, replacing any write still pending. */
  saveNow(snapshot: () => StoredState): void {
    this.snapshot = snapshot;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.closed) this.write();
  }

  /** Saves `snapshot()` soon: every change within WRITE_DELAY_MS shares one write. */
  schedule(snapshot: () => StoredState): void {
    this.snapshot = snapshot;
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, WRITE_DELAY_MS);
    // Unsaved changes are written by close(), not by keeping the process alive.
    this.timer.unref();
  }

  /** The final write, if a change is pending. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
  }

  private write(): void {
    const snapshot = this.snapshot;
    if (!this.writable || !snapshot) return;
    const tmp = `${this.path}.tmp`;
    try {
      const text = `${JSON.stringify(snapshot(), null, 2)}\n`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        // A temporary file left by another user's umask or an older run still ends up private.
        fchmodSync(fd, 0o600);
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      this.lastError = undefined;
    } catch (err) {
      // Called from a timer: report (once per distinct problem), never throw.
      const message = messageOf(err);
      if (message !== this.lastError)
        this.log(`aliyun-iot-emulator: could not save the state to ${this.path}: ${message}`);
      this.lastError = message;
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
