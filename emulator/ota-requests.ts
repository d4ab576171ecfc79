// The platform's side of OTA over MQTT (PLATFORM.md §14): the upgrade push, the device's
// version and progress reports, `thing/ota/firmware/get`, and the MQTT-channel download
// (emulator/mqtt-download.ts). Dispatch is on the topic: OTA uplinks carry no `method` and no
// `version`, their ids are numbers or strings (§10, §14.1), and inform/progress get no reply (no
// `inform_reply` topic exists in any SDK). A gateway speaks for its logged-in sub-devices with their
// pk/dn (§14.1 "Sub-devices"; emulator/sub-device-routing.ts decides that before a message gets here).
//
// The push (§14.2, DOC:89307) is built to satisfy every SDK's parser: `code` the string "1000",
// `message` "success" (C3 checks it), a numeric `id`, `data.md5` 32 lowercase hex (C3), `sign` hex
// per `signMethod` spelled "Md5" or "SHA256" (L4 refuses the doc's "MD5"), `size`, `version`, `url`.
// `digestsign` (secure boot) is left out: its algorithm is UNVERIFIED and no SDK checks it.
import type { FileServer } from './files';
import { MqttDownload } from './mqtt-download';
import { checkJobSpec, moduleOf, type OtaFile, type OtaJob, type OtaJobs, type OtaJobSpec } from './ota';
import type { DeviceRecord, Registry } from './registry';
import { filterMatches } from './topics';

/** §3.3: the link is an OSS URL with an expiry; "commonly 24 h" (UNVERIFIED). */
export const OTA_URL_LIFETIME_MS = 24 * 3600 * 1000;
/** A URL with less than this left is signed again before it goes out in a push or a firmware/get reply. */
const URL_RENEW_BEFORE_MS = 3600 * 1000;

type Publish = (topic: string, payload: Buffer | string, qos: 0 | 1) => Promise<void>;

export interface OtaCounters {
  pushes: number;
  informs: number;
  progress: number;
  firmwareGets: number;
  /** OTA uplinks that were not JSON or lacked what they must carry: logged and ignored. */
  malformed: number;
}

export interface OtaServiceOptions {
  registry: Registry;
  files: FileServer;
  publish: Publish;
  /** The device whose connection carries this device's session (itself, or its gateway); undefined: offline. */
  connectionOf: (device: DeviceRecord) => DeviceRecord | undefined;
  log: (line: string) => void;
}

export type OtaStart = { ok: true; job: OtaJob; pushed: boolean } | { ok: false; problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export const upgradeTopic = (d: { productKey: string; deviceName: string }) =>
  `/ota/device/upgrade/${d.productKey}/${d.deviceName}`;

/** The request's id verbatim with its JSON type (§0.2, §8 item 2), null when it had none. */
const idOf = (body: Record<string, unknown>): unknown =>
  typeof body.id === 'string' || typeof body.id === 'number' ? body.id : null;

/** A step as the SDKs send it, an integer string ("50", "-3"); a number is taken too (forgiving). */
function stepOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  return typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : undefined;
}

export class OtaService {
  readonly counters: OtaCounters = { pushes: 0, informs: 0, progress: 0, firmwareGets: 0, malformed: 0 };
  /** The MQTT-channel download (`/sys/{pk}/{dn}/thing/file/download`). */
  readonly download: MqttDownload;
  /** Each HTTPS file's current URL. */
  private readonly urls = new WeakMap<OtaFile, string>();

  constructor(
    /** The jobs and what devices reported (emulator/ota.ts). */
    readonly jobs: OtaJobs,
    private readonly opts: OtaServiceOptions,
  ) {
    this.download = new MqttDownload(jobs, (topic, payload, qos) => opts.publish(topic, payload, qos));
  }

  /**
   * Starts a job (what the console's upgrade batch does for one device) and pushes it at once when
   * the device can hear it; otherwise when it connects, subscribes or logs in through its gateway.
   */
  async start(device: DeviceRecord, spec: OtaJobSpec): Promise<OtaStart> {
    const check = checkJobSpec(spec);
    if (!check.ok) return check;
    const job = this.jobs.start(device, spec);
    if (job.protocol === 'https') {
      for (const file of job.files) {
        this.urls.set(file, this.opts.files.offer(file.served, { name: file.name, expiresMs: OTA_URL_LIFETIME_MS }));
      }
    }
    return { ok: true, job, pushed: await this.pushIfDue(job) };
  }

  /**
   * The push's `data`, also the `firmware/get` reply's (§3.1: L4 parses both with key "data").
   * Multi-file (§3.3): `files` [{fileName, fileSize, fileUrl, fileSign}] and one top-level
   * `signMethod`, no top-level url/size/md5/sign (UNVERIFIED beyond L4's parser: SDKs without
   * multi-file support cannot take such a package anyway).
   */
  pushData(job: OtaJob): Record<string, unknown> {
    const common = {
      version: job.version,
      isDiff: 0,
      signMethod: job.signMethod,
      ...(job.moduleGiven && { module: job.module }),
      ...(job.extData !== undefined && { extData: job.extData }),
    };
    if (job.multiFile) {
      const files = job.files.map((f) => ({
        fileName: f.name,
        fileSize: f.bytes.length,
        fileUrl: this.url(f),
        fileSign: f.sign,
      }));
      return { ...common, files };
    }
    const file = job.files[0] as OtaFile;
    const where =
      job.protocol === 'mqtt'
        ? { dProtocol: 'mqtt', streamId: job.streamId, streamFileId: 1 }
        : { url: this.url(file) };
    return { size: file.bytes.length, ...common, ...where, md5: file.md5, sign: file.sign };
  }

  /** The push message on `/ota/device/upgrade/{pk}/{dn}` (§3.3). */
  pushMessage(job: OtaJob): Record<string, unknown> {
    return { code: '1000', data: this.pushData(job), id: job.id, message: 'success' };
  }

  /** Handles an OTA uplink; false: not an OTA topic. */
  handle(device: DeviceRecord, topic: string, payload: Buffer, qos: number): boolean {
    const { productKey: pk, deviceName: dn } = device;
    try {
      if (topic === `/ota/device/inform/${pk}/${dn}`) this.onInform(device, topic, payload);
      else if (topic === `/ota/device/progress/${pk}/${dn}`) this.onProgress(device, topic, payload);
      else if (topic === `/sys/${pk}/${dn}/thing/ota/firmware/get`) this.onFirmwareGet(device, topic, payload, qos);
      else return this.download.handle(device, topic, payload, qos);
    } catch (err) {
      // Nothing a device sends may throw into the broker.
      this.malformed(device, topic, err instanceof Error ? err.message : String(err));
    }
    return true;
  }

  /**
   * A device's session started (its own connection is ready, or it logged in through a gateway):
   * its open jobs are pushed again (§3.3: "设备再次上线后,OTA服务端验证该设备是否需要升级…再次推送"),
   * at once when it can hear them (`_ss=1`, or a subscription kept by a persistent session), else
   * when it subscribes.
   */
  sessionStarted(device: DeviceRecord): void {
    for (const job of this.jobs.openJobs(device)) void this.pushIfDue(job);
  }

  /** A connection's SUBSCRIBE took effect: the open jobs it can hear now and did not get in this session are pushed. */
  subscribed(connection: DeviceRecord, filters: readonly string[]): void {
    for (const job of this.jobs.allOpen()) {
      const device = this.opts.registry.device(job.productKey, job.deviceName);
      if (!device || this.opts.connectionOf(device) !== connection) continue;
      if (filters.some((f) => filterMatches(f, upgradeTopic(device)))) void this.pushIfDue(job);
    }
  }

  /**
   * Pushes once per session of the device, to a device that can hear it. The platform delivers with
   * the publisher's QoS; the push goes at QoS 1, what C3 subscribes with (UNVERIFIED what the
   * platform uses), and only to an online device, so no broker queues it for an offline one (§3.3:
   * offline devices do not get the push).
   */
  private async pushIfDue(job: OtaJob): Promise<boolean> {
    const device = this.opts.registry.device(job.productKey, job.deviceName);
    if (!device?.online || !this.jobs.isOpen(job)) return false;
    const session = device.counters.connects;
    if (job.pushedInSession === session || !this.canHear(device)) return false;
    job.pushedInSession = session;
    this.counters.pushes++;
    try {
      await this.opts.publish(upgradeTopic(device), JSON.stringify(this.pushMessage(job)), 1);
      return true;
    } catch {
      return false;
    }
  }

  /** The device's connection is subscribed to its upgrade topic, or gets system topics without subscribing (`_ss=1`). */
  private canHear(device: DeviceRecord): boolean {
    const connection = this.opts.connectionOf(device);
    if (!connection) return false;
    if (connection.serverSubscribed) return true;
    const topic = upgradeTopic(device);
    return [...connection.subscriptions].some((filter) => filterMatches(filter, topic));
  }

  /** The file's URL, signed again when it has less than an hour left. */
  private url(file: OtaFile): string {
    const current = this.urls.get(file) ?? '';
    const files = this.opts.files;
    const left = current === '' ? 0 : Number(new URL(current).searchParams.get('Expires')) * 1000 - Date.now();
    if (left >= URL_RENEW_BEFORE_MS) return current;
    const renewed =
      files.renew(current, OTA_URL_LIFETIME_MS) ??
      files.offer(file.served, { name: file.name, expiresMs: OTA_URL_LIFETIME_MS });
    this.urls.set(file, renewed);
    return renewed;
  }

  private parse(device: DeviceRecord, topic: string, payload: Buffer): Record<string, unknown> | undefined {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      body = undefined;
    }
    if (isObject(body) && (body.params === undefined || isObject(body.params))) return body;
    this.malformed(device, topic, 'not a JSON object with an object params');
    return undefined;
  }

  private malformed(device: DeviceRecord, topic: string, why: string): void {
    this.counters.malformed++;
    this.opts.log(
      `aliyun-iot-emulator: ${device.productKey}/${device.deviceName}: ignored a message on ${topic}: ${why}`,
    );
  }

  /** `{id, params:{version, module?}}`: the device runs `version` of `module`. */
  private onInform(device: DeviceRecord, topic: string, payload: Buffer): void {
    const body = this.parse(device, topic, payload);
    if (!body) return;
    const params = (body.params ?? {}) as Record<string, unknown>;
    if (typeof params.version !== 'string' || params.version === '') {
      this.malformed(device, topic, 'params.version must be a non-empty string');
      return;
    }
    this.counters.informs++;
    this.jobs.inform(device, moduleOf(params.module), params.version);
  }

  /** `{id, params:{step:"<int>", desc, module?}}`. */
  private onProgress(device: DeviceRecord, topic: string, payload: Buffer): void {
    const body = this.parse(device, topic, payload);
    if (!body) return;
    const params = (body.params ?? {}) as Record<string, unknown>;
    const step = stepOf(params.step);
    if (step === undefined) {
      this.malformed(device, topic, 'params.step must be an integer');
      return;
    }
    this.counters.progress++;
    const module = typeof params.module === 'string' && params.module !== '' ? params.module : undefined;
    const desc = typeof params.desc === 'string' ? params.desc : undefined;
    this.jobs.progress(device, module, step, desc);
  }

  /**
   * `{id, params:{module?}}` → `firmware/get_reply` `{id, code:200, data:<the push's data>, message}`.
   * No module: the whole-device job, else the device's newest open job (forgiving). No open job:
   * code 200 with `data:{}` (UNVERIFIED: no source shows the platform's answer then; an empty data
   * has no `version`, which every SDK's parser takes as "nothing to do").
   */
  private onFirmwareGet(device: DeviceRecord, topic: string, payload: Buffer, qos: number): void {
    const body = this.parse(device, topic, payload);
    let answer: Record<string, unknown>;
    if (!body) {
      answer = { id: null, code: 460, data: {}, message: 'request parameter error' };
    } else {
      this.counters.firmwareGets++;
      const params = (body.params ?? {}) as Record<string, unknown>;
      const module = typeof params.module === 'string' && params.module !== '' ? params.module : undefined;
      const job =
        this.jobs.open(device, moduleOf(module)) ??
        (module === undefined ? this.jobs.openJobs(device).at(-1) : undefined);
      answer = { id: idOf(body), code: 200, data: job ? this.pushData(job) : {}, message: 'success' };
    }
    void this.opts.publish(`${topic}_reply`, JSON.stringify(answer), qos === 1 ? 1 : 0).catch(() => undefined);
  }
}
