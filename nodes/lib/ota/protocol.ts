// OTA firmware upgrades on the wire (PLATFORM.md §14): the topics, the version and progress
// reports, and the upgrade offer read from a push or a firmware/get reply as every SDK's parser
// would accept it, whatever spelling of signMethod the platform or a proxy uses.
import type { DeviceRef } from '../alink';
import { parseJsonObject } from '../payload';

const ota = (kind: string, { productKey, deviceName }: DeviceRef) => `/ota/device/${kind}/${productKey}/${deviceName}`;
const sys = ({ productKey, deviceName }: DeviceRef) => `/sys/${productKey}/${deviceName}/thing`;

export const otaTopics = {
  inform: (d: DeviceRef) => ota('inform', d),
  upgrade: (d: DeviceRef) => ota('upgrade', d),
  progress: (d: DeviceRef) => ota('progress', d),
  firmwareGet: (d: DeviceRef) => `${sys(d)}/ota/firmware/get`,
  firmwareGetReply: (d: DeviceRef) => `${sys(d)}/ota/firmware/get_reply`,
  /** The MQTT-channel download (PLATFORM.md §14.4). */
  fileDownload: (d: DeviceRef) => `${sys(d)}/file/download`,
  fileDownloadReply: (d: DeviceRef) => `${sys(d)}/file/download_reply`,
};

/** The whole device's firmware: no `module` on the wire (PLATFORM.md §14.1). */
export const DEFAULT_MODULE = 'default';
/** Steps a progress report may carry: percent, or -1 upgrade, -2 download, -3 verification, -4 burn failed. */
export const PROGRESS_MIN = -4;
export const PROGRESS_MAX = 100;
export const PROGRESS = { upgradeFailed: -1, downloadFailed: -2, verifyFailed: -3, burnFailed: -4 } as const;
/** Versions and module names the console accepts are short; longer ones are refused before sending. */
export const MAX_VERSION_LENGTH = 64;
const MODULE = /^[A-Za-z0-9_.-]{1,64}$/;

export type DigestMethod = 'md5' | 'sha256';

/**
 * The digest a `signMethod` names. The platform's docs say `MD5`, Link SDK 4.x accepts only `Md5`
 * and `SHA256`/`Sha256`, Python `Md5`/`SHA256`: all of them are read here, case aside.
 */
export function digestMethodOf(signMethod: unknown): DigestMethod | undefined {
  if (typeof signMethod !== 'string') return undefined;
  const name = signMethod.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (name === 'md5') return 'md5';
  if (name === 'sha256') return 'sha256';
  return undefined;
}

const HEX_LENGTH: Record<DigestMethod, number> = { md5: 32, sha256: 64 };

export function isDigest(method: DigestMethod, value: string): boolean {
  return value.length === HEX_LENGTH[method] && /^[0-9a-fA-F]+$/.test(value);
}

export interface FirmwareFile {
  name: string;
  size: number;
  /** Blank for the MQTT channel. */
  url: string;
  /** Hex digest by the offer's digest method, lower case. */
  sign: string;
}

/** What the cloud offers: one firmware for one module, in one or several files. */
export interface UpgradeOffer {
  version: string;
  module: string;
  /** Total bytes of all files. */
  size: number;
  digest: DigestMethod;
  /** The signMethod as the platform spelt it. */
  signMethod: string;
  /** `https`, or `mqtt` for the MQTT channel (one file, streamId and streamFileId). */
  protocol: 'https' | 'mqtt';
  files: FirmwareFile[];
  /** The whole file's MD5 as well, when the push carried one (old SDKs check it). */
  md5?: string;
  streamId?: number;
  streamFileId?: number;
  isDiff: boolean;
  extData?: unknown;
}

export type OfferParse = { ok: true; offer: UpgradeOffer } | { ok: false; reason: string };

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const count = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN);

function fileNameOf(url: string, fallback: string): string {
  try {
    const last = new URL(url).pathname.split('/').pop() ?? '';
    return decodeURIComponent(last) || fallback;
  } catch {
    return fallback;
  }
}

function filesOf(data: Record<string, unknown>, digest: DigestMethod): FirmwareFile[] | string {
  if (Array.isArray(data.files)) {
    if (data.files.length === 0) return 'files is empty';
    const files: FirmwareFile[] = [];
    for (const [i, f] of data.files.entries()) {
      if (!isRecord(f)) return `files[${i}] is not an object`;
      const size = count(f.fileSize);
      const url = text(f.fileUrl);
      const sign = text(f.fileSign).toLowerCase();
      if (!Number.isSafeInteger(size) || size < 0) return `files[${i}].fileSize is not a size`;
      if (!url.startsWith('https://')) return `files[${i}].fileUrl is not an https URL`;
      if (!isDigest(digest, sign)) return `files[${i}].fileSign is not a ${digest} digest`;
      files.push({ name: text(f.fileName) || fileNameOf(url, `file-${i + 1}`), size, url, sign });
    }
    return files;
  }
  const size = count(data.size);
  if (!Number.isSafeInteger(size) || size < 0) return 'size is missing';
  const md5 = text(data.md5).toLowerCase();
  // Old pushes carry only md5; the sign then is the md5.
  const sign = text(data.sign).toLowerCase() || (digest === 'md5' ? md5 : '');
  if (!isDigest(digest, sign)) return `sign is not a ${digest} digest`;
  const mqtt = data.dProtocol === 'mqtt';
  const url = text(data.url);
  if (!mqtt && !url.startsWith('https://') && !url.startsWith('http://')) return 'url is missing';
  return [{ name: mqtt ? 'firmware.bin' : fileNameOf(url, 'firmware.bin'), size, url: mqtt ? '' : url, sign }];
}

/**
 * The offer in a push's or a firmware/get reply's `data` (the same object, PLATFORM.md §14.2).
 * An empty `data` means no firmware is pending.
 */
export function parseOffer(data: unknown): OfferParse | undefined {
  if (!isRecord(data) || Object.keys(data).length === 0) return undefined;
  const version = text(data.version);
  if (!version) return { ok: false, reason: 'version is missing' };
  // A push without signMethod but with md5 (the oldest form) is an MD5 one.
  const signMethod = typeof data.signMethod === 'string' ? data.signMethod : data.md5 !== undefined ? 'Md5' : '';
  const digest = digestMethodOf(signMethod);
  if (!digest) return { ok: false, reason: `signMethod ${signMethod || '(none)'} is not MD5 or SHA256` };
  const files = filesOf(data, digest);
  if (typeof files === 'string') return { ok: false, reason: files };
  const mqtt = data.dProtocol === 'mqtt';
  const streamId = count(data.streamId);
  if (mqtt && (!Number.isSafeInteger(streamId) || files.length !== 1))
    return { ok: false, reason: 'streamId is missing' };
  const md5 = text(data.md5).toLowerCase();
  const offer: UpgradeOffer = {
    version,
    module: text(data.module) || DEFAULT_MODULE,
    size: files.reduce((sum, f) => sum + f.size, 0),
    digest,
    signMethod,
    protocol: mqtt ? 'mqtt' : 'https',
    files,
    isDiff: data.isDiff === 1 || data.isDiff === '1' || data.isDiff === true,
  };
  if (isDigest('md5', md5)) offer.md5 = md5;
  if (mqtt) {
    offer.streamId = streamId;
    const fileId = count(data.streamFileId);
    offer.streamFileId = Number.isSafeInteger(fileId) ? fileId : 1;
  }
  if (data.extData !== undefined) offer.extData = data.extData;
  return { ok: true, offer };
}

/** A push on `/ota/device/upgrade/...`: `{code: "1000", data, id, message}`. */
export function parseUpgradePush(payload: Buffer): OfferParse | undefined {
  const body = parseJsonObject(payload);
  if (!body) return { ok: false, reason: 'not JSON' };
  return parseOffer(body.data);
}

/** Module names travel in topics' payloads and file names: a conservative character set. */
export function isModuleName(value: string): boolean {
  return MODULE.test(value);
}

export function isVersion(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '' && value.length <= MAX_VERSION_LENGTH;
}

/** `params` with the module only when it is not the whole device (the SDKs leave it out then). */
function withModule(params: Record<string, unknown>, module: string): Record<string, unknown> {
  return module === DEFAULT_MODULE ? params : { ...params, module };
}

export const otaBodies = {
  /** OTA uplinks carry no method (PLATFORM.md §14.1); the platform sends no reply to them. */
  inform: (id: string, version: string, module: string) =>
    JSON.stringify({ id, params: withModule({ version }, module) }),
  /** `step` is a string in every SDK. */
  progress: (id: string, step: number, desc: string, module: string) =>
    JSON.stringify({ id, params: withModule({ step: String(step), desc }, module) }),
  firmwareGet: (id: string, module: string) =>
    JSON.stringify({ id, version: '1.0', params: withModule({}, module), method: 'thing.ota.firmware.get' }),
};

/**
 * Progress of a download in steps of at most every 5 % (what Link SDK 4.x reports): the step to
 * send for a byte count, or undefined when the last one sent still stands.
 */
export class ProgressSteps {
  private last = -1;

  constructor(
    private readonly total: number,
    private readonly every = 5,
  ) {}

  next(bytes: number): number | undefined {
    const percent = this.total > 0 ? Math.min(100, Math.floor((bytes * 100) / this.total)) : 100;
    const step = percent === 100 ? 100 : percent - (percent % this.every);
    if (step <= this.last) return undefined;
    this.last = step;
    return step;
  }
}
