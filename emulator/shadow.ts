// The device shadow (设备影子): one JSON document per device (sub-devices too) holding `reported`
// (what the device last said), `desired` (what an application wants), per-key metadata timestamps
// and a version, kept for the emulator's lifetime and, with `dataDir`, in the state file.
//
// Sources (PLATFORM.md §13):
// - DOC:53932 设备影子JSON详解 https://help.aliyun.com/document_detail/53932.htm : the document's shape,
//   timestamps in seconds; "如果大于当前版本号,则更新设备影子,并将version值更新到请求的版本中" (a write
//   takes the request's version); version is a long, -1 resets it to 0; arrays are replaced whole.
// - DOC:53964 设备影子数据流 https://help.aliyun.com/document_detail/53964.htm : "只有当新版本大于当前版本时,
//   设备影子才会接收设备端的请求"; -1 clears the shadow and sets the version to 0.
// - DOC:69954 UpdateDeviceShadow https://help.aliyun.com/document_detail/69954.html : the cloud's desired
//   write, `DeltaUpdate` (merge or replace desired), version 0 = no version check.
// - C SDK 3.x `shadow_api.h`: error 408 "attribute exceeded"; the limit of 128 is UNVERIFIED.

/** Attributes a section may hold (error 408 beyond it). UNVERIFIED: commonly quoted, no source gave it. */
export const SHADOW_ATTRIBUTE_LIMIT = 128;

export type ShadowSection = 'reported' | 'desired';
export type Attributes = Record<string, unknown>;
type Metadata = Record<string, { timestamp: number }>;

export interface ShadowDocument {
  state: Record<ShadowSection, Attributes>;
  metadata: Record<ShadowSection, Metadata>;
  version: number;
  /** Seconds of the last write; 0 for a shadow never written. */
  timestamp: number;
}

/** What a write does to one section. */
export type SectionChange =
  | { merge: Attributes }
  /** The whole section becomes these attributes (the cloud's `DeltaUpdate: false`). */
  | { replace: Attributes }
  | { remove: string[] }
  | 'clear';

export interface ShadowWrite {
  reported?: SectionChange;
  desired?: SectionChange;
  /** -1 resets the shadow to version 0 first; otherwise it must be greater than the current version. */
  version: number;
}

export type WriteResult = { ok: true; version: number } | { ok: false; code: 403 | 408; message: string };

/** A shadow in `<dataDir>/state.json`, device named by pk and dn. */
export interface StoredShadow {
  productKey: string;
  deviceName: string;
  state: Partial<Record<ShadowSection, Attributes>>;
  metadata: Partial<Record<ShadowSection, Metadata>>;
  version: number;
  timestamp: number;
}

const SECTIONS: readonly ShadowSection[] = ['reported', 'desired'];

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The platform's clock for shadows: seconds, as the documents and replies of DOC:53932/53964 show. */
export const shadowNow = (): number => Math.floor(Date.now() / 1000);

function emptyDocument(): ShadowDocument {
  return { state: { reported: {}, desired: {} }, metadata: { reported: {}, desired: {} }, version: 0, timestamp: 0 };
}

function copy(doc: ShadowDocument): ShadowDocument {
  return structuredClone(doc);
}

/** Keys present in the section, in the form the platform sends: an empty section is left out. */
function present<T>(
  sections: Record<ShadowSection, Record<string, T>>,
): Partial<Record<ShadowSection, Record<string, T>>> {
  const out: Partial<Record<ShadowSection, Record<string, T>>> = {};
  for (const s of SECTIONS) if (Object.keys(sections[s]).length > 0) out[s] = sections[s];
  return out;
}

function applyChange(doc: ShadowDocument, section: ShadowSection, change: SectionChange, now: number): void {
  if (change === 'clear' || 'replace' in change) {
    doc.state[section] = {};
    doc.metadata[section] = {};
  }
  if (change === 'clear') return;
  if ('remove' in change) {
    const removed = new Set(change.remove);
    const keep = <T>(entries: Record<string, T>) =>
      Object.fromEntries(Object.entries(entries).filter(([key]) => !removed.has(key)));
    doc.state[section] = keep(doc.state[section]);
    doc.metadata[section] = keep(doc.metadata[section]);
    return;
  }
  // Each attribute is replaced whole: arrays per DOC:53932 ("更新数组时必须全量更新"), objects too
  // (UNVERIFIED for objects; the EMQX Fabric copy of the docs says "对同一状态的更新策略为全量覆盖").
  for (const [key, value] of Object.entries('merge' in change ? change.merge : change.replace)) {
    doc.state[section][key] = structuredClone(value);
    doc.metadata[section][key] = { timestamp: now };
  }
}

/** Every device's shadow, keyed `pk&dn`. */
export class Shadows {
  private readonly docs = new Map<string, ShadowDocument>();
  /** Called after a write worth keeping across restarts. */
  onChange: (() => void) | undefined;

  private static key(d: { productKey: string; deviceName: string }): string {
    return `${d.productKey}&${d.deviceName}`;
  }

  /** The device's document; a shadow never written is empty at version 0. */
  document(device: { productKey: string; deviceName: string }): ShadowDocument {
    const doc = this.docs.get(Shadows.key(device));
    return doc ? copy(doc) : emptyDocument();
  }

  /** Nothing to tell: no attribute and version 0 (never written, or reset with -1 and nothing since). */
  isEmpty(doc: ShadowDocument): boolean {
    return doc.version === 0 && SECTIONS.every((s) => Object.keys(doc.state[s]).length === 0);
  }

  /** The document as the cloud API and a get reply show it: sections without attributes left out. */
  view(doc: ShadowDocument): {
    state: Partial<Record<ShadowSection, Attributes>>;
    metadata: Partial<Record<ShadowSection, Metadata>>;
  } {
    return { state: present(doc.state), metadata: present(doc.metadata) };
  }

  /**
   * Applies a write atomically: refused with 403 when the version is not greater than the current
   * one (and not -1), with 408 when a section would hold too many attributes; nothing changes then.
   */
  write(device: { productKey: string; deviceName: string }, change: ShadowWrite, now = shadowNow()): WriteResult {
    const current = this.document(device);
    const reset = change.version === -1;
    if (!reset && !(Number.isInteger(change.version) && change.version > current.version)) {
      return {
        ok: false,
        code: 403,
        message: `version must be greater than the current version ${current.version} (or -1 to reset)`,
      };
    }
    // -1 clears the shadow and sets version 0; what the same request states is then written
    // (UNVERIFIED whether the platform keeps it: the forgiving reading loses nothing the device sent).
    const doc = reset ? emptyDocument() : current;
    for (const section of SECTIONS) {
      const sectionChange = change[section];
      if (sectionChange) applyChange(doc, section, sectionChange, now);
    }
    for (const section of SECTIONS) {
      if (Object.keys(doc.state[section]).length > SHADOW_ATTRIBUTE_LIMIT) {
        return { ok: false, code: 408, message: `${section} has more than ${SHADOW_ATTRIBUTE_LIMIT} attributes` };
      }
    }
    doc.version = reset ? 0 : change.version;
    doc.timestamp = now;
    this.docs.set(Shadows.key(device), doc);
    this.onChange?.();
    return { ok: true, version: doc.version };
  }

  /** A deleted device's shadow goes with it (emulator/lifecycle.ts). */
  forget(device: { productKey: string; deviceName: string }): void {
    if (this.docs.delete(Shadows.key(device))) this.onChange?.();
  }

  /** What a restart keeps: every shadow written at least once. */
  snapshot(): StoredShadow[] {
    return [...this.docs.entries()].map(([key, doc]) => {
      const at = key.indexOf('&');
      return {
        productKey: key.slice(0, at),
        deviceName: key.slice(at + 1),
        ...this.view(doc),
        version: doc.version,
        timestamp: doc.timestamp,
      };
    });
  }

  /** Takes the stored shadows of devices the registry knows (call before anything logs in). */
  restore(stored: readonly StoredShadow[], known: (productKey: string, deviceName: string) => boolean): void {
    for (const s of stored) {
      if (!known(s.productKey, s.deviceName)) continue;
      const doc = emptyDocument();
      for (const section of SECTIONS) {
        doc.state[section] = structuredClone(s.state[section] ?? {});
        doc.metadata[section] = structuredClone(s.metadata[section] ?? {});
      }
      doc.version = s.version;
      doc.timestamp = s.timestamp;
      this.docs.set(Shadows.key(s), doc);
    }
  }
}

/** What is wrong with a stored shadow, or undefined when it can be used. */
export function storedShadowProblem(value: unknown, at: string): string | undefined {
  if (!isPlainObject(value)) return `${at} is not an object`;
  if (typeof value.productKey !== 'string' || typeof value.deviceName !== 'string')
    return `${at} has no productKey and deviceName`;
  if (typeof value.version !== 'number' || !Number.isInteger(value.version) || value.version < 0)
    return `${at}.version is not a version`;
  if (typeof value.timestamp !== 'number' || !Number.isFinite(value.timestamp)) return `${at}.timestamp is not a time`;
  for (const part of ['state', 'metadata'] as const) {
    const sections = value[part];
    if (!isPlainObject(sections)) return `${at}.${part} is not an object`;
    for (const section of SECTIONS) {
      if (sections[section] !== undefined && !isPlainObject(sections[section]))
        return `${at}.${part}.${section} is not an object`;
    }
  }
  return undefined;
}
