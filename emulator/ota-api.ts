// The cloud side of OTA over HTTP: what the console's upgrade batch (or the OpenAPI's
// CreateOTAStaticUpgradeJob for one device) and its job view do, reduced to one device.
//   POST /api/devices/{pk}/{dn}/ota         starts a job and pushes it (emulator/ota-requests.ts)
//   GET  /api/devices/{pk}/{dn}/ota         the newest job, with `jobs` (the newest of each module)
//   GET  /api/devices/{pk}/{dn}/ota/{module} the newest job of that module
// Rules: PLATFORM.md §14 (emulator/ota.ts names them).
import type { ApiAnswer, CloudContext } from './cloud-api';
import { moduleOf, type OtaFileSpec, type OtaJob, type OtaJobSpec, type OtaSignMethod } from './ota';
import type { DeviceRecord } from './registry';

type Body = Record<string, unknown>;

const bad = (message: string): ApiAnswer => ({ status: 400, body: { code: 'BAD_REQUEST', message } });

/** UNVERIFIED: the console's limits on a module name, as commonly stated (1-64 letters, digits, ".", "-", "_"). */
const MODULE = /^[\w.-]{1,64}$/;

/** A version: 1 to 64 characters (UNVERIFIED, as commonly stated), no control characters, not blank at either end. */
function versionOk(version: unknown): version is string {
  if (typeof version !== 'string' || version.length === 0 || version.length > 64) return false;
  if (version.trim() !== version) return false;
  for (let i = 0; i < version.length; i++)
    if (version.charCodeAt(i) < 0x20 || version.charCodeAt(i) === 0x7f) return false;
  return true;
}

const SIGN_METHODS: Readonly<Record<string, OtaSignMethod>> = { md5: 'Md5', sha256: 'SHA256' };

/** Standard or URL-safe base64, padded or not; undefined when it is not base64 or decodes to nothing. */
function base64Bytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text) || text.length % 4 === 1) return undefined;
  if (text.includes('=') && text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length > 0 ? bytes : undefined;
}

function filesOf(body: Body, version: string): OtaFileSpec[] | string {
  if (body.files !== undefined && body.firmware !== undefined) return 'give firmware or files, not both';
  if (body.files === undefined) {
    const bytes = base64Bytes(body.firmware);
    if (!bytes) return 'firmware must be the firmware file in base64, not empty';
    if (body.name !== undefined && (typeof body.name !== 'string' || body.name === ''))
      return 'name must be a file name';
    const name = typeof body.name === 'string' ? body.name : `firmware-${version}.bin`;
    return [{ name, bytes }];
  }
  if (!Array.isArray(body.files) || body.files.length === 0) return 'files must be a list of {name, firmware}';
  const files: OtaFileSpec[] = [];
  for (const [i, entry] of body.files.entries()) {
    const file = entry as Body | null;
    if (typeof file?.name !== 'string' || file.name === '') return `files[${i}].name must be a file name`;
    if (files.some((f) => f.name === file.name)) return `files[${i}].name repeats ${file.name}`;
    const bytes = base64Bytes(file.firmware);
    if (!bytes) return `files[${i}].firmware must be the file in base64, not empty`;
    files.push({ name: file.name, bytes });
  }
  return files;
}

/** The body's job, or what is wrong with it. */
export function jobSpecOf(body: Body): OtaJobSpec | string {
  const { version, module, signMethod, protocol, timeoutMs, extData, corrupt } = body;
  if (!versionOk(version)) return 'version must be a string of 1 to 64 characters';
  if (module !== undefined && (typeof module !== 'string' || !MODULE.test(module)))
    return 'module must be 1 to 64 letters, digits, ".", "-" or "_"';
  const sign =
    signMethod === undefined
      ? 'Md5'
      : typeof signMethod === 'string'
        ? SIGN_METHODS[signMethod.toLowerCase()]
        : undefined;
  if (!sign) return 'signMethod must be "Md5" or "SHA256"';
  const channel = protocol === undefined ? 'https' : typeof protocol === 'string' ? protocol.toLowerCase() : '';
  if (channel !== 'https' && channel !== 'mqtt') return 'protocol must be "https" or "mqtt"';
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1)
  )
    return 'timeoutMs must be a positive whole number of milliseconds';
  if (extData !== undefined && (extData === null || typeof extData !== 'object' || Array.isArray(extData)))
    return 'extData must be an object';
  if (corrupt !== undefined && typeof corrupt !== 'boolean') return 'corrupt must be a boolean';
  const files = filesOf(body, version);
  if (typeof files === 'string') return files;
  return {
    version,
    ...(module !== undefined && { module }),
    files,
    signMethod: sign,
    protocol: channel,
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(extData !== undefined && { extData: extData as Record<string, unknown> }),
    ...(corrupt === true && { corrupt: true }),
  };
}

/** A job as the API shows it; never the firmware bytes. */
export function describeJob(job: OtaJob): Record<string, unknown> {
  return {
    id: job.id,
    version: job.version,
    module: job.module,
    status: job.status,
    steps: [...job.steps],
    ...(job.desc !== undefined && { desc: job.desc }),
    ...(job.reportedVersion !== undefined && { reportedVersion: job.reportedVersion }),
    ...(job.reason !== undefined && { reason: job.reason }),
    protocol: job.protocol,
    signMethod: job.signMethod,
    files: job.files.map((f) => ({ name: f.name, size: f.bytes.length, md5: f.md5, sign: f.sign })),
    ...(job.corrupt && { corrupt: true }),
    createdAt: job.createdAt,
    deadline: job.deadline,
    ...(job.settledAt !== undefined && { settledAt: job.settledAt }),
  };
}

/** Undefined: not an OTA route. */
export function otaAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: readonly string[],
  method: string,
  body: Body,
): Promise<ApiAnswer> | undefined {
  if (action[0] !== 'ota' || action.length > 2) return undefined;
  if (method === 'GET') return Promise.resolve(describeJobs(ctx, device, action[1]));
  if (method !== 'POST' || action.length !== 1)
    return Promise.resolve({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } });
  return startJob(ctx, device, body);
}

function describeJobs(ctx: CloudContext, device: DeviceRecord, module: string | undefined): ApiAnswer {
  const { jobs } = ctx.ota;
  const latest = jobs.latest(device, module === undefined ? undefined : moduleOf(module));
  if (!latest) return { status: 404, body: { code: 'OTA_JOB_NOT_FOUND', message: 'no upgrade job for this device' } };
  const newestByModule = new Map<string, OtaJob>();
  for (const job of jobs.jobsOf(device)) newestByModule.set(job.module, job);
  const all = [...newestByModule.values()].sort((a, b) => b.id - a.id);
  // Reading a job settles it when its device timeout passed (emulator/ota.ts), timer or not.
  for (const job of all) jobs.isOpen(job);
  return {
    status: 200,
    body: { ...describeJob(latest), jobs: all.map(describeJob), firmware: { ...device.firmware } },
  };
}

async function startJob(ctx: CloudContext, device: DeviceRecord, body: Body): Promise<ApiAnswer> {
  const spec = jobSpecOf(body);
  if (typeof spec === 'string') return bad(spec);
  const started = await ctx.ota.start(device, spec);
  if (!started.ok) return bad(started.problem);
  const { job, pushed } = started;
  return {
    status: 200,
    body: {
      code: 'SUCCESS',
      jobId: job.id,
      pushed,
      online: device.online,
      job: describeJob(job),
      data: ctx.ota.pushData(job),
    },
  };
}
