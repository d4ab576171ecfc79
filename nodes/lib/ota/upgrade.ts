// One upgrade offer taken through its download: every file fetched (HTTPS with resume, or the MQTT
// channel), verified, and the progress reported to the cloud on the way (0-100 at most every 5 %,
// -2 when the download failed, -3 when verification failed), so a flow does not have to.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AliyunIotError } from '../errors';
import type { OtaClient } from './client';
import { downloadFile, type DownloadTls } from './download';
import { downloadOverMqtt } from './mqtt-download';
import { PROGRESS, ProgressSteps, type FirmwareFile, type UpgradeOffer } from './protocol';
import { BufferSink, FileSink } from './sink';

export type FirmwareTarget = { kind: 'file'; directory: string } | { kind: 'buffer'; maxBytes: number };

export interface DownloadedFile {
  name: string;
  size: number;
  /** Where it was written (file target). */
  path?: string;
  /** The bytes (buffer target). */
  firmware?: Buffer;
}

export interface UpgradeDeps {
  client: OtaClient;
  target: FirmwareTarget;
  tls: DownloadTls;
  /** Percent of all bytes so far, for the node's status. */
  onPercent?: (percent: number) => void;
  signal?: AbortSignal;
  retryDelayMs?: (attempt: number) => number;
}

/** File and directory names from the cloud, made safe to join under the firmware directory. */
export function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return cleaned.slice(0, 120) || '_';
}

/** `<directory>/<pk>/<dn>/<module>/<version>/`: one upgrade never overwrites another's files. */
export function firmwareDirectory(base: string, client: OtaClient, offer: UpgradeOffer): string {
  const { productKey, deviceName } = client.device;
  return join(base, safeName(productKey), safeName(deviceName), safeName(offer.module), safeName(offer.version));
}

/** Reports a step; a report that cannot leave (offline) does not stop the download. */
function report(client: OtaClient, step: number, desc: string, module: string): void {
  client.progress(step, desc, module).catch(() => undefined);
}

async function fetchOne(
  file: FirmwareFile,
  offer: UpgradeOffer,
  deps: UpgradeDeps,
  directory: string,
  onBytes: (bytes: number) => void,
): Promise<DownloadedFile> {
  const sink =
    deps.target.kind === 'file'
      ? new FileSink(join(directory, safeName(file.name)))
      : new BufferSink(deps.target.maxBytes);
  const md5 = offer.files.length === 1 ? offer.md5 : undefined;
  if (offer.protocol === 'mqtt') {
    const hash = createHash(offer.digest);
    try {
      await downloadOverMqtt({
        streamId: offer.streamId ?? 0,
        fileId: offer.streamFileId ?? 1,
        size: file.size,
        write: (chunk) => {
          hash.update(chunk);
          sink.write(chunk);
        },
        onBytes,
        nextId: () => deps.client.nextId(),
        request: (body) => deps.client.requestBlock(body),
        listen: (listener) => deps.client.listenFrames(listener),
        signal: deps.signal,
      });
    } catch (err) {
      await sink.discard();
      throw err;
    }
    await sink.flush();
    if (hash.digest('hex') !== file.sign) {
      await sink.discard();
      throw new AliyunIotError('OTA_VERIFY_FAILED', { reason: `${offer.digest} does not match the sign` });
    }
  } else {
    await downloadFile(file, sink, {
      tls: deps.tls,
      digest: offer.digest,
      md5,
      onBytes,
      signal: deps.signal,
      retryDelayMs: deps.retryDelayMs,
    });
  }
  if (sink instanceof FileSink) {
    sink.commit();
    return { name: file.name, size: file.size, path: sink.path };
  }
  return { name: file.name, size: file.size, firmware: sink.bytes };
}

/**
 * Downloads and verifies every file of the offer. Rejects with OTA_DOWNLOAD_FAILED (reported -2),
 * OTA_VERIFY_FAILED (reported -3, nothing kept), OTA_TOO_LARGE (-2) or OTA_ABORTED (not reported:
 * the node closed, the next start gets the push again).
 */
export async function fetchFirmware(offer: UpgradeOffer, deps: UpgradeDeps): Promise<DownloadedFile[]> {
  const { client, target } = deps;
  if (target.kind === 'buffer' && offer.size > target.maxBytes) {
    report(client, PROGRESS.downloadFailed, `firmware of ${offer.size} bytes exceeds the limit`, offer.module);
    throw new AliyunIotError('OTA_TOO_LARGE', { size: offer.size, max: target.maxBytes });
  }
  const directory = target.kind === 'file' ? firmwareDirectory(target.directory, client, offer) : '';
  const steps = new ProgressSteps(offer.size);
  const sendStep = (bytes: number) => {
    const step = steps.next(bytes);
    if (step === undefined) return;
    deps.onPercent?.(step);
    report(client, step, step === 100 ? 'downloaded' : 'downloading', offer.module);
  };
  sendStep(0);
  const files: DownloadedFile[] = [];
  let before = 0;
  try {
    for (const file of offer.files) {
      files.push(await fetchOne(file, offer, deps, directory, (bytes) => sendStep(before + bytes)));
      before += file.size;
    }
  } catch (err) {
    // Files of this offer already verified go too: the upgrade is all of them or none.
    for (const done of files) if (done.path) rmSync(done.path, { force: true });
    const code = err instanceof AliyunIotError ? err.code : 'OTA_DOWNLOAD_FAILED';
    if (code !== 'OTA_ABORTED') {
      const step = code === 'OTA_VERIFY_FAILED' ? PROGRESS.verifyFailed : PROGRESS.downloadFailed;
      report(client, step, err instanceof Error ? err.message.slice(0, 100) : 'failed', offer.module);
    }
    throw err;
  }
  return files;
}
