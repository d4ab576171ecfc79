// Shared pieces of the OTA, file server and remote-configuration tests: downloads with node:https,
// the rules every device SDK's push parser applies (PLATFORM.md §14.2), written from the
// platform's documentation and the SDKs' source as the rules file quotes them, not from any client.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { https, nextMessage, sleep } from '../helpers/emulator';

export interface Download {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The connection broke before the body was complete. */
  broken: boolean;
}

/** GET (or HEAD) a file server URL, trusting the emulator's CA; a cut connection resolves with what arrived. */
export function download(
  emu: Emulator,
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', ca: emu.ca, headers: options.headers, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        let done = false;
        const finish = (broken: boolean) => {
          if (done) return;
          done = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), broken });
        };
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(!res.complete));
        res.on('aborted', () => finish(true));
        res.on('error', () => finish(true));
        res.on('close', () => finish(!res.complete));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export const upgradeTopic = (d: { productKey: string; deviceName: string }) =>
  `/ota/device/upgrade/${d.productKey}/${d.deviceName}`;
export const informTopic = (d: { productKey: string; deviceName: string }) =>
  `/ota/device/inform/${d.productKey}/${d.deviceName}`;
export const progressTopic = (d: { productKey: string; deviceName: string }) =>
  `/ota/device/progress/${d.productKey}/${d.deviceName}`;
export const firmwareGetTopic = (d: { productKey: string; deviceName: string }) =>
  `/sys/${d.productKey}/${d.deviceName}/thing/ota/firmware/get`;
export const otaApi = (d: { productKey: string; deviceName: string }) =>
  `/api/devices/${d.productKey}/${d.deviceName}/ota`;

export type Push = Record<string, unknown> & { data: Record<string, unknown> };

export async function nextPush(
  client: MqttClient,
  device: { productKey: string; deviceName: string },
  ms = 5000,
): Promise<Push> {
  const message = await nextMessage(client, upgradeTopic(device), ms);
  return JSON.parse(message.payload.toString()) as Push;
}

const hex = (length: number) => new RegExp(`^[0-9a-f]{${length}}$`);

/**
 * Every rule of §3.3's table, one assertion each. C3: `message` exactly "success", `data` present,
 * `version`, `url`, `md5` of exactly 32 characters, `size`. L4: `data`, `version`, `signMethod` one
 * of "SHA256", "Sha256", "Md5" (case-sensitive: "MD5" is refused), `size`, `url`, `sign` of 32 (MD5)
 * or 64 (SHA256) characters; `dProtocol:"mqtt"` needs `streamId`. PY: `url`, `version`, `size`,
 * `signMethod`, `sign`. Common: `code` the string "1000", a numeric `id`.
 */
export function assertEverySdkAccepts(push: Push, channel: 'https' | 'mqtt' = 'https'): void {
  assert.equal(push.code, '1000', 'code is the string "1000"');
  assert.equal(typeof push.id, 'number', 'id is a number');
  assert.ok(Number.isInteger(push.id) && (push.id as number) > 1_600_000_000_000, 'id is a millisecond timestamp');
  assert.equal(push.message, 'success', 'C3: message is exactly "success"');
  const raw: unknown = push.data;
  assert.ok(typeof raw === 'object' && raw !== null && !Array.isArray(raw), 'C3/L4: data present');
  const data = raw as Record<string, unknown>;
  assert.equal(typeof data.version, 'string', 'C3/L4/PY: version');
  assert.ok(Number.isInteger(data.size) && (data.size as number) > 0, 'C3/L4/PY: size');
  assert.match(String(data.md5), hex(32), 'C3: md5 is 32 (lowercase) hex characters');
  assert.ok(
    ['Md5', 'SHA256'].includes(String(data.signMethod)),
    `L4/PY: signMethod "Md5" or "SHA256", got ${String(data.signMethod)}`,
  );
  assert.match(String(data.sign), hex(data.signMethod === 'Md5' ? 32 : 64), 'L4: sign length per signMethod');
  if (data.signMethod === 'Md5') assert.equal(data.sign, data.md5);
  assert.equal(data.isDiff, 0);
  if (channel === 'https') {
    assert.match(String(data.url), /^https:\/\/[^/]+\/.+\?Expires=\d+&Signature=/, 'C3/L4/PY: url');
    assert.equal(data.dProtocol, undefined);
  } else {
    assert.equal(data.url, undefined, 'MQTT channel: no url');
    assert.equal(data.dProtocol, 'mqtt');
    assert.ok(Number.isInteger(data.streamId), 'L4: dProtocol mqtt needs streamId');
    assert.equal(data.streamFileId, 1);
  }
}

/** Waits until the device's job reaches `status`, reading it as an application would. */
export async function jobStatus(
  emu: Emulator,
  device: { productKey: string; deviceName: string },
  status: string,
  ms = 5000,
): Promise<Record<string, unknown>> {
  const until = Date.now() + ms;
  for (;;) {
    const answer = await https(emu, 'GET', otaApi(device));
    if (answer.body.status === status) return answer.body;
    if (Date.now() > until) throw new Error(`job status is ${String(answer.body.status)}, not ${status}`);
    await sleep(20);
  }
}
