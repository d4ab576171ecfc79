// OTA upgrade jobs (OTA升级), the platform's bookkeeping only: which firmware a device is asked to
// install, what it reported since, and whether the job succeeded. No MQTT and no HTTP here
// (emulator/ota-requests.ts, emulator/ota-api.ts).
//
// Rules (PLATFORM.md §14):
// - §14.1: one module per job and per version report; no module or "default" is the whole device.
//   Success is judged from the version report, not from progress 100 ("物联网平台控制台,根据设备上报的
//   版本号,判断OTA升级成功与否"); a job whose device does not report the new version within the job's
//   device timeout fails.
// - §14.3: receipt of any progress message moves the device from pending (待升级) to in progress
//   (升级中); -1 upgrade failed, -2 download failed, -3 verification failed, -4 burn failed.
// - §14.4/§14.4: MQTT-channel download only for one file ≤ 16 MB; §14.2: multi-file packages over
//   HTTPS only, at most 20 files (L4 `OTA_ARRAY_MAX 20`).
// Not kept in the state file: a job's URLs are signed with a key of this process and die with it.
import { createHash, randomInt } from 'node:crypto';
import { deviceKey, type DeviceRecord } from './registry';

export type OtaStatus = 'pending' | 'in-progress' | 'succeeded' | 'failed';
/** The spellings every SDK accepts (§3.3: L4 refuses the doc's "MD5"). */
export type OtaSignMethod = 'Md5' | 'SHA256';
export type OtaProtocol = 'https' | 'mqtt';

/** The module of whole-device firmware (DOC:58328 "默认(default)模块表示整个设备的固件"). */
export const DEFAULT_MODULE = 'default';
/** §3.6: MQTT-channel download is for files of at most 16 MB. */
export const MQTT_DOWNLOAD_MAX_BYTES = 16 * 1024 * 1024;
/** §3.3: L4 `OTA_ARRAY_MAX 20`. */
export const MAX_FILES = 20;
/** Device timeout of a job without `timeoutMs`. UNVERIFIED default: the console asks for minutes, none is documented. */
export const DEFAULT_JOB_TIMEOUT_MS = 10 * 60 * 1000;

export const STEP_FAILURES: Readonly<Record<string, string>> = {
  '-1': 'upgrade failed',
  '-2': 'download failed',
  '-3': 'verification failed',
  '-4': 'burn failed',
};

export interface OtaFileSpec {
  name: string;
  bytes: Buffer;
}

/** What a job is started with (the API's body, decoded). */
export interface OtaJobSpec {
  version: string;
  /** Absent or "default": the whole device. */
  module?: string;
  /** One file, or several (a multi-file package, HTTPS only). */
  files: readonly OtaFileSpec[];
  signMethod?: OtaSignMethod;
  protocol?: OtaProtocol;
  /** Device timeout: no version report within it fails the job. */
  timeoutMs?: number;
  extData?: Record<string, unknown>;
  /** Test feature: the served bytes differ from what `md5`/`sign` say, so a device must refuse them (step -3). */
  corrupt?: boolean;
}

export interface OtaFile {
  name: string;
  /** The firmware: what `md5` and `sign` are computed over. */
  bytes: Buffer;
  /** What the file server and the MQTT channel serve: `bytes`, or a corrupted copy. */
  served: Buffer;
  md5: string;
  sign: string;
}

export interface OtaJob {
  /** The push's `id`: a millisecond timestamp, unique in this run (§3.3 `"id":1626969597470`). */
  readonly id: number;
  readonly productKey: string;
  readonly deviceName: string;
  /** "default" for whole-device firmware. */
  readonly module: string;
  /** The module as the job was given it: the push names it only then. */
  readonly moduleGiven: boolean;
  readonly version: string;
  readonly signMethod: OtaSignMethod;
  readonly protocol: OtaProtocol;
  readonly multiFile: boolean;
  readonly files: readonly OtaFile[];
  readonly extData?: Record<string, unknown>;
  readonly corrupt: boolean;
  /** MQTT channel: the push's `streamId`; the file is `streamFileId` 1. */
  readonly streamId?: number;
  readonly createdAt: number;
  readonly deadline: number;
  status: OtaStatus;
  /** Progress steps received while the job was open, in order. */
  readonly steps: number[];
  desc?: string;
  reportedVersion?: string;
  reason?: string;
  settledAt?: number;
  /** The device's session (its `counters.connects`) the push last reached; re-pushed in a later session. */
  pushedInSession?: number;
}

export type OtaJobCheck = { ok: true } | { ok: false; problem: string };

const digest = (algorithm: 'md5' | 'sha256', bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');

/** The served copy of a corrupt job: every byte flipped, so no digest can match by chance. */
function corrupted(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = 0; i < copy.length; i++) copy[i] = (copy[i] ?? 0) ^ 0xff;
  return copy;
}

/** The platform's limits on a job, before anything is stored (§3.3, §3.6). */
export function checkJobSpec(spec: OtaJobSpec): OtaJobCheck {
  const fail = (problem: string): OtaJobCheck => ({ ok: false, problem });
  if (spec.files.length === 0) return fail('firmware is required');
  if (spec.files.some((f) => f.bytes.length === 0)) return fail('firmware must not be empty');
  if (spec.files.length > MAX_FILES) return fail(`a package holds at most ${MAX_FILES} files`);
  if (spec.protocol === 'mqtt') {
    if (spec.files.length > 1) return fail('MQTT-channel download is for single-file packages only');
    if ((spec.files[0]?.bytes.length ?? 0) > MQTT_DOWNLOAD_MAX_BYTES)
      return fail(`MQTT-channel download is for files of at most ${MQTT_DOWNLOAD_MAX_BYTES} bytes (16 MB)`);
  }
  return { ok: true };
}

export const moduleOf = (module: unknown): string =>
  typeof module === 'string' && module !== '' ? module : DEFAULT_MODULE;

export class OtaJobs {
  /** Device → its jobs, oldest first (bounded). */
  private readonly byDevice = new Map<string, OtaJob[]>();
  private readonly timers = new Map<OtaJob, NodeJS.Timeout>();
  private lastId = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Starts a job. A pending or in-progress job of the same device and module is replaced: it fails
   * with reason "replaced by a newer job" (UNVERIFIED what the console does; one open job per module
   * keeps the device's answers unambiguous).
   */
  start(device: DeviceRecord, spec: OtaJobSpec): OtaJob {
    const module = moduleOf(spec.module);
    const open = this.open(device, module);
    if (open) this.settle(open, 'failed', 'replaced by a newer job');
    const signMethod = spec.signMethod ?? 'Md5';
    const createdAt = this.now();
    this.lastId = Math.max(createdAt, this.lastId + 1);
    const files = spec.files.map((f): OtaFile => {
      const bytes = Buffer.from(f.bytes);
      const md5 = digest('md5', bytes);
      return {
        name: f.name,
        bytes,
        served: spec.corrupt ? corrupted(bytes) : bytes,
        md5,
        sign: signMethod === 'Md5' ? md5 : digest('sha256', bytes),
      };
    });
    const protocol = spec.protocol ?? 'https';
    const timeoutMs = spec.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    const job: OtaJob = {
      id: this.lastId,
      productKey: device.productKey,
      deviceName: device.deviceName,
      module,
      moduleGiven: spec.module !== undefined,
      version: spec.version,
      signMethod,
      protocol,
      multiFile: files.length > 1,
      files,
      ...(spec.extData !== undefined && { extData: spec.extData }),
      corrupt: spec.corrupt === true,
      ...(protocol === 'mqtt' && { streamId: randomInt(1, 2 ** 31 - 1) }),
      createdAt,
      deadline: createdAt + timeoutMs,
      status: 'pending',
      steps: [],
    };
    const list = this.jobsOf(device);
    list.push(job);
    // Settled jobs beyond the last 20 are forgotten; open ones never are.
    while (list.length > 20 && list[0] && !this.isOpen(list[0])) list.shift();
    this.byDevice.set(deviceKey(device.productKey, device.deviceName), list);
    const timer = setTimeout(() => this.expire(job), timeoutMs);
    timer.unref();
    this.timers.set(job, timer);
    return job;
  }

  /** The device's jobs, oldest first. */
  jobsOf(device: { productKey: string; deviceName: string }): OtaJob[] {
    return this.byDevice.get(deviceKey(device.productKey, device.deviceName)) ?? [];
  }

  /** The newest job of the device's module, open or settled. */
  latest(device: { productKey: string; deviceName: string }, module?: string): OtaJob | undefined {
    const jobs = this.jobsOf(device);
    const wanted = module === undefined ? undefined : moduleOf(module);
    for (let i = jobs.length - 1; i >= 0; i--) {
      const job = jobs[i];
      if (job && (wanted === undefined || job.module === wanted)) return job;
    }
    return undefined;
  }

  /** The pending or in-progress job of the device's module. */
  open(device: { productKey: string; deviceName: string }, module: string): OtaJob | undefined {
    const job = this.latest(device, module);
    return job && this.isOpen(job) ? job : undefined;
  }

  /** Every pending or in-progress job of the device, oldest first. */
  openJobs(device: { productKey: string; deviceName: string }): OtaJob[] {
    return this.jobsOf(device).filter((job) => this.isOpen(job));
  }

  /** Every open job of every device. */
  allOpen(): OtaJob[] {
    return [...this.byDevice.values()].flat().filter((job) => this.isOpen(job));
  }

  isOpen(job: OtaJob): boolean {
    this.checkDeadline(job);
    return job.status === 'pending' || job.status === 'in-progress';
  }

  /** The job whose MQTT-channel stream this is, open or settled (a device may finish a download late). */
  byStream(device: { productKey: string; deviceName: string }, streamId: number): OtaJob | undefined {
    return this.jobsOf(device).find((job) => job.streamId === streamId);
  }

  /**
   * A version report (`/ota/device/inform`): the device runs `version` of `module`. The open job of
   * that module succeeds when it is the job's version; another version settles nothing (UNVERIFIED
   * what the console does with it; the forgiving reading waits for the right version or the timeout).
   */
  inform(device: DeviceRecord, module: string, version: string): OtaJob | undefined {
    device.firmware = { ...device.firmware, [module]: version };
    const job = this.open(device, module);
    if (!job) return undefined;
    job.reportedVersion = version;
    if (version === job.version) this.settle(job, 'succeeded');
    return job;
  }

  /**
   * A progress report. It belongs to the open job of its module; a report without a module when
   * only one job is open goes to that job whatever its module (forgiving: the SDKs add `module` only
   * when the application gave one).
   */
  progress(
    device: DeviceRecord,
    module: string | undefined,
    step: number,
    desc: string | undefined,
  ): OtaJob | undefined {
    let job = this.open(device, moduleOf(module));
    if (!job && module === undefined) {
      const open = this.openJobs(device);
      if (open.length === 1) job = open[0];
    }
    if (!job) return undefined;
    job.steps.push(step);
    if (desc !== undefined && desc !== '') job.desc = desc;
    if (step < 0) this.settle(job, 'failed', STEP_FAILURES[String(step)] ?? `device reported step ${step}`);
    else job.status = 'in-progress';
    return job;
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private checkDeadline(job: OtaJob): void {
    if ((job.status === 'pending' || job.status === 'in-progress') && this.now() >= job.deadline) this.expire(job);
  }

  private expire(job: OtaJob): void {
    if (job.status !== 'pending' && job.status !== 'in-progress') return;
    this.settle(
      job,
      'failed',
      `timeout: no report of version ${job.version} within ${job.deadline - job.createdAt} ms`,
    );
  }

  private settle(job: OtaJob, status: 'succeeded' | 'failed', reason?: string): void {
    job.status = status;
    if (reason !== undefined) job.reason = reason;
    job.settledAt = this.now();
    clearTimeout(this.timers.get(job));
    this.timers.delete(job);
  }
}
