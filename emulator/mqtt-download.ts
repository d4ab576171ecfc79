// OTA firmware over the MQTT channel (`dProtocol:"mqtt"`), PLATFORM.md §14.4, from the
// Link SDK 4.2 `aiot_mqtt_download_api.c` / `mqtt_download_private.h`:
// - the device asks for a block on `/sys/{pk}/{dn}/thing/file/download`:
//   `{"id":"7","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":1397345,"fileId":1,},"fileBlock":{"size":5120,"offset":0}}}`
//   with a trailing comma after `fileId` that L4 really sends (§8 item 10): parsed leniently here;
// - the platform answers on `.../thing/file/download_reply`, binary:
//   `[u16 BE header length][JSON header][block bytes][CRC-16/ARC of the block, low byte first]`,
//   header `{"code":200,"data":{"bSize","bOffset","fileLength","fileToken"}}`; the last block is short.
import type { OtaJobs } from './ota';
import type { DeviceRecord } from './registry';

/** Largest block a request may ask for. UNVERIFIED: L4 asks 5 KB by default; 128 KB is the MQTT file-upload block limit (§6.2, §8 item 15). */
export const MQTT_DOWNLOAD_MAX_BLOCK = 128 * 1024;
/** L4 `MQTT_DOWNLOAD_DEFAULT_REQUEST_SIZE`: the block of a request that names none (forgiving). */
export const MQTT_DOWNLOAD_DEFAULT_BLOCK = 5 * 1024;
/** Error codes of a refused request (the header carries no `data`). UNVERIFIED: no source names them. */
export const DOWNLOAD_ERRORS = {
  /** The request cannot be read, or its block is out of the file or too large (Alink 460, request parameter error). */
  badRequest: 460,
  /** No such stream (or file of it) for this device. */
  notFound: 404,
} as const;

type Publish = (topic: string, payload: Buffer, qos: 0 | 1) => Promise<void>;

/**
 * CRC-16/ARC ("crc_ibm" in L4): polynomial 0x8005 reflected (0xA001), initial value 0, no final xor.
 * Check value: CRC-16/ARC of the ASCII bytes "123456789" is 0xBB3D.
 */
export function crc16Arc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/**
 * JSON.parse after removing commas that stand right before `}` or `]` outside strings: L4's download
 * request has `"fileId":1,}`. Throws as JSON.parse does on anything else that is not JSON.
 */
export function parseLenientJson(text: string): unknown {
  let out = '';
  let inString = false;
  let pendingComma = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ',') {
      pendingComma = out.length;
      out += c;
      continue;
    }
    if ((c === '}' || c === ']') && pendingComma >= 0 && out.slice(pendingComma + 1).trim() === '') {
      out = out.slice(0, pendingComma) + out.slice(pendingComma + 1);
    }
    if (!/\s/.test(c)) pendingComma = -1;
    if (c === '"') inString = true;
    out += c;
  }
  return JSON.parse(out) as unknown;
}

/** `[u16 BE header length][header JSON][data][CRC-16/ARC of data, low byte first]`; no data: the header alone. */
export function downloadFrame(header: object, data?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(json.length);
  if (data === undefined) return Buffer.concat([length, json]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16Arc(data));
  return Buffer.concat([length, json, data, crc]);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An integer from a number or a digit string (forgiving: L4 prints numbers, others may quote them). */
function integer(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
}

export class MqttDownload {
  /** Requests answered, refused ones included. */
  readonly counters = { blocks: 0, refused: 0 };

  constructor(
    private readonly jobs: OtaJobs,
    private readonly publish: Publish,
  ) {}

  /** Handles `/sys/{pk}/{dn}/thing/file/download`; false: not that topic. */
  handle(device: DeviceRecord, topic: string, payload: Buffer, qos: number): boolean {
    const base = `/sys/${device.productKey}/${device.deviceName}/thing/file/download`;
    if (topic !== base) return false;
    const frame = this.answer(device, payload);
    // At the request's QoS: the platform delivers with the publisher's QoS (§8 item 5).
    void this.publish(`${base}_reply`, frame, qos === 1 ? 1 : 0).catch(() => undefined);
    return true;
  }

  private answer(device: DeviceRecord, payload: Buffer): Buffer {
    let body: unknown;
    try {
      body = parseLenientJson(payload.toString('utf8'));
    } catch {
      return this.refuse(DOWNLOAD_ERRORS.badRequest, 'request is not JSON');
    }
    const params = isObject(body) && isObject(body.params) ? body.params : undefined;
    const info = params && isObject(params.fileInfo) ? params.fileInfo : undefined;
    const block = params && isObject(params.fileBlock) ? params.fileBlock : undefined;
    const streamId = integer(info?.streamId);
    if (!params || streamId === undefined)
      return this.refuse(DOWNLOAD_ERRORS.badRequest, 'params.fileInfo.streamId is required');
    const fileToken = typeof params.fileToken === 'string' ? params.fileToken : undefined;
    // Echoed in a header whose length is 16 bits: a token of any sane size fits.
    if (fileToken !== undefined && fileToken.length > 1024)
      return this.refuse(DOWNLOAD_ERRORS.badRequest, 'fileToken is too long');
    const job = this.jobs.byStream(device, streamId);
    // The push names the file `streamFileId` 1; a request without fileId means it too (forgiving).
    const fileId = info?.fileId === undefined ? 1 : integer(info.fileId);
    const file = job && fileId === 1 ? job.files[0] : undefined;
    if (!file) return this.refuse(DOWNLOAD_ERRORS.notFound, 'no such stream or file');
    const size = block?.size === undefined ? MQTT_DOWNLOAD_DEFAULT_BLOCK : integer(block.size);
    const offset = block?.offset === undefined ? 0 : integer(block.offset);
    if (size === undefined || size <= 0 || size > MQTT_DOWNLOAD_MAX_BLOCK)
      return this.refuse(DOWNLOAD_ERRORS.badRequest, `fileBlock.size must be 1 to ${MQTT_DOWNLOAD_MAX_BLOCK}`);
    const length = file.served.length;
    if (offset === undefined || offset >= length)
      return this.refuse(DOWNLOAD_ERRORS.badRequest, 'fileBlock.offset is beyond the file');
    const data = file.served.subarray(offset, Math.min(length, offset + size));
    this.counters.blocks++;
    const header = {
      code: 200,
      data: { bSize: data.length, bOffset: offset, fileLength: length, ...(fileToken !== undefined && { fileToken }) },
    };
    return downloadFrame(header, data);
  }

  private refuse(code: number, message: string): Buffer {
    this.counters.refused++;
    return downloadFrame({ code, message });
  }
}
