// OTA firmware upgrades (固件升级): reports the firmware version(s) at every connect, outputs the
// cloud's upgrade offers and, with download on, fetches the firmware first (resumed after a dropped
// link, verified, progress reported) so that only verified firmware reaches the flow. The flow
// applies it and answers `report` with the new version: that report is what settles the upgrade.
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { AliyunIotError } from './lib/errors';
import { otaClientOf, type OtaClient } from './lib/ota/client';
import {
  DEFAULT_MODULE,
  PROGRESS_MAX,
  PROGRESS_MIN,
  isModuleName,
  isVersion,
  type OfferParse,
  type UpgradeOffer,
} from './lib/ota/protocol';
import { downloadTlsOf } from './lib/ota/download';
import { fetchFirmware, type DownloadedFile, type FirmwareTarget } from './lib/ota/upgrade';
import {
  keepReported,
  parseModuleVersions,
  versionsToReport,
  type KeptVersions,
  type ModuleVersions,
} from './lib/ota/versions';
import { contextSlot } from './support/credential-store';
import { linkDevice } from './support/device-link';
import { codedError, describeValue, localize, localizedError } from './support/i18n';

interface OtaDef extends NodeDef {
  device?: string;
  /** The whole device's firmware version; blank: not reported. */
  version?: string;
  /** `MCU=1.0.3, WIFI=2.0`. */
  modules?: string;
  /** `file` (default), `buffer` or `off`. */
  download?: string;
  /** Relative to the Node-RED user directory; blank: `aliyun-iot-ota`. */
  directory?: string;
  /** Buffer target's limit in MB. */
  maxBufferMb?: string | number;
}

const ACTIONS = ['report', 'progress', 'get'] as const;
type Action = (typeof ACTIONS)[number];
const KEY = 'aliyunIotOtaVersions';
const DEFAULT_MAX_BUFFER_MB = 16;

/** What an offer looks like in `msg.payload`; the URLs only when the flow downloads itself. */
function describeOffer(offer: UpgradeOffer, withUrls: boolean): Record<string, unknown> {
  const { version, module, size, signMethod, protocol, isDiff, extData, md5 } = offer;
  const out: Record<string, unknown> = { version, module, size, signMethod, protocol, isDiff };
  if (md5) out.md5 = md5;
  if (extData !== undefined) out.extData = extData;
  if (withUrls) {
    out.files = offer.files.map(({ name, size: bytes, url, sign }) => ({ name, size: bytes, url, sign }));
    if (offer.streamId !== undefined)
      Object.assign(out, { streamId: offer.streamId, streamFileId: offer.streamFileId });
  }
  return out;
}

function downloadedPayload(offer: UpgradeOffer, files: DownloadedFile[]): Record<string, unknown> {
  const out = describeOffer(offer, false);
  out.files = files;
  // One file, the common case: at the top too.
  if (files.length === 1) {
    if (files[0]?.path !== undefined) out.file = files[0].path;
    if (files[0]?.firmware !== undefined) out.firmware = files[0].firmware;
  }
  return out;
}

function targetOf(RED: NodeAPI, def: OtaDef): FirmwareTarget | undefined {
  const kind = def.download === 'off' ? 'off' : def.download === 'buffer' ? 'buffer' : 'file';
  if (kind === 'off') return undefined;
  if (kind === 'buffer') {
    const mb = Number(def.maxBufferMb);
    const maxBytes = Math.round((Number.isFinite(mb) && mb > 0 ? mb : DEFAULT_MAX_BUFFER_MB) * 1024 * 1024);
    return { kind, maxBytes };
  }
  const userDir = (RED.settings as { userDir?: string }).userDir || join(homedir(), '.node-red');
  const wanted = typeof def.directory === 'string' && def.directory.trim() ? def.directory.trim() : 'aliyun-iot-ota';
  return { kind, directory: isAbsolute(wanted) ? wanted : join(userDir, wanted) };
}

export = function register(RED: NodeAPI): void {
  function AliyunIotOta(this: Node, def: OtaDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const parsed = parseModuleVersions(def.version ?? '', def.modules ?? '');
    const configured: ModuleVersions = typeof parsed === 'string' ? {} : parsed;
    if (typeof parsed === 'string') node.error(localize(RED, 'OTA_MODULES_INVALID', { value: parsed }));
    const target = targetOf(RED, def);
    const slot = contextSlot<KeptVersions>(RED, node, KEY);
    // Read when first needed (the first connect): context stores are ready by then.
    let keptVersions: Promise<KeptVersions | undefined> | undefined;
    const kept = () => (keptVersions ??= slot.load().catch(() => undefined));
    let client: OtaClient | undefined;
    let release = (): void => undefined;
    /** The download running, and the offer it is for. */
    let running: { offer: UpgradeOffer; abort: AbortController } | undefined;
    /** The last offer handed to the flow: a re-push of it (after a reconnect) is not fetched again. */
    let delivered: string | undefined;
    const offerKey = (o: UpgradeOffer) => `${o.module}\n${o.version}\n${o.files.map((f) => f.sign).join(',')}`;

    const reportAll = async (ota: OtaClient) => {
      const versions = versionsToReport(configured, await kept());
      for (const [module, version] of Object.entries(versions)) await ota.report(version, module);
    };

    /** A push, or a firmware/get reply with firmware in it. `forced`: the flow asked for it. */
    const take = (ota: OtaClient, parsedOffer: OfferParse, forced: boolean) => {
      if (!parsedOffer.ok) {
        node.warn(localize(RED, 'OTA_OFFER_INVALID', { reason: parsedOffer.reason }));
        return;
      }
      const offer = parsedOffer.offer;
      if (running) {
        // The platform pushes a pending job again at every connect: the same offer is already coming.
        if (offerKey(running.offer) === offerKey(offer)) return;
        const params = { version: offer.version, module: offer.module, running: running.offer.version };
        node.warn(localize(RED, 'OTA_BUSY', params));
        node.status({ fill: 'yellow', shape: 'ring', text: localize(RED, 'OTA_BUSY', params) });
        return;
      }
      if (!forced && delivered === offerKey(offer)) return;
      if (!target) {
        delivered = offerKey(offer);
        node.send({ topic: 'upgrade', payload: describeOffer(offer, true) });
        return;
      }
      const abort = new AbortController();
      running = { offer, abort };
      const label = `${offer.module === DEFAULT_MODULE ? '' : `${offer.module} `}${offer.version}`;
      fetchFirmware(offer, {
        client: ota,
        target,
        tls: downloadTlsOf(ota.trust),
        signal: abort.signal,
        onPercent: (percent) =>
          node.status({ fill: 'blue', shape: 'dot', text: localize(RED, 'OTA_DOWNLOADING', { label, percent }) }),
      }).then(
        (files) => {
          running = undefined;
          delivered = offerKey(offer);
          node.status({ fill: 'green', shape: 'dot', text: localize(RED, 'OTA_READY', { label }) });
          node.send({ topic: 'upgrade', payload: downloadedPayload(offer, files) });
        },
        (err: unknown) => {
          running = undefined;
          if (err instanceof AliyunIotError && err.code === 'OTA_ABORTED') return;
          const error = localizedError(RED, err);
          node.status({ fill: 'red', shape: 'ring', text: error.message });
          node.error(error.message, { topic: 'upgrade-failed', payload: describeOffer(offer, false), error });
        },
      );
    };

    const onConnected = () => {
      if (client) reportAll(client).catch((err: unknown) => node.warn(localizedError(RED, err).message));
    };
    const onPush = (offer: OfferParse) => {
      if (client) take(client, offer, false);
    };
    if (link.ok) {
      client = otaClientOf(link.connection);
      client.on('connected', onConnected);
      client.on('push', onPush);
      release = client.attach();
      if (client.connected) onConnected();
    }

    async function run(ota: OtaClient, action: Action, msg: NodeMessage & Record<string, unknown>) {
      const module = msg.module === undefined ? DEFAULT_MODULE : (msg.module as string);
      switch (action) {
        case 'report': {
          const version = (msg.version as string).trim();
          await ota.report(version, module);
          const next = keepReported(configured, await kept(), module, version);
          keptVersions = Promise.resolve(next);
          await slot.save(next);
          delivered = undefined;
          return { ...msg, topic: 'reported', payload: { version, module } };
        }
        case 'progress': {
          const desc = typeof msg.desc === 'string' ? msg.desc.slice(0, 128) : '';
          await ota.progress(msg.step as number, desc, module);
          return { ...msg, topic: 'progress', payload: { step: msg.step, desc, module } };
        }
        case 'get': {
          const offer = await ota.requestFirmware(module);
          if (!offer) return { ...msg, topic: 'firmware', payload: null };
          take(ota, offer, true);
          return undefined;
        }
      }
    }

    node.on('input', (msg, send, done) => {
      if (!link.ok || !client) return done(link.ok ? undefined : link.error);
      const m = msg as NodeMessage & Record<string, unknown>;
      const action = m.action === undefined ? 'report' : m.action;
      if (!ACTIONS.includes(action as Action))
        return done(codedError(RED, 'OTA_ACTION_INVALID', { value: describeValue(action) }));
      if (m.module !== undefined && (typeof m.module !== 'string' || !isModuleName(m.module)))
        return done(codedError(RED, 'OTA_MODULE_INVALID', { value: describeValue(m.module) }));
      if (action === 'report' && !isVersion(m.version))
        return done(codedError(RED, 'OTA_VERSION_INVALID', { value: describeValue(m.version) }));
      if (
        action === 'progress' &&
        (typeof m.step !== 'number' || !Number.isInteger(m.step) || m.step < PROGRESS_MIN || m.step > PROGRESS_MAX)
      )
        return done(codedError(RED, 'OTA_STEP_INVALID', { value: describeValue(m.step) }));
      run(client, action as Action, m).then(
        (out) => {
          if (out) send(out);
          done();
        },
        (err: unknown) => done(localizedError(RED, err)),
      );
    });

    node.on('close', (done: () => void) => {
      running?.abort.abort();
      client?.off('connected', onConnected);
      client?.off('push', onPush);
      release();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-ota', AliyunIotOta);
};
