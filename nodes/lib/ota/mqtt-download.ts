// Firmware over the MQTT connection itself (`dProtocol: "mqtt"`, PLATFORM.md §14.4): block by block
// on thing/file/download, each answer a binary frame checked by its length and CRC-16, a block
// asked again on a bad frame or silence, three times at most.
import { AliyunIotError } from '../errors';
import { parseJsonObject } from '../payload';

/** Link SDK 4.x's block size: what the platform is known to serve. */
export const MQTT_BLOCK_BYTES = 5120;
/** Link SDK 4.x waits 10 s for a block and asks three times. */
export const MQTT_BLOCK_TIMEOUT_MS = 10_000;
export const MQTT_BLOCK_RETRIES = 3;

/** CRC-16/ARC (poly 0x8005 reflected, init 0, no final xor), the frames' checksum. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export interface BlockFrame {
  code: number;
  offset: number;
  size: number;
  fileLength: number;
  data: Buffer;
}

/** `[u16 BE header length][JSON header][data][CRC-16 of data, low byte first]`; a string says what is wrong. */
export function parseBlockFrame(frame: Buffer): BlockFrame | string {
  if (frame.length < 2) return 'frame too short';
  const headerLength = frame.readUInt16BE(0);
  if (frame.length < 2 + headerLength) return 'header cut short';
  const header = parseJsonObject(frame.subarray(2, 2 + headerLength));
  if (!header) return 'header is not JSON';
  const code = Number(header.code);
  const data = (header.data ?? {}) as Record<string, unknown>;
  if (code !== 200) return `code ${String(header.code)}`;
  const size = Number(data.bSize);
  const offset = Number(data.bOffset);
  const fileLength = Number(data.fileLength);
  if (![size, offset, fileLength].every(Number.isSafeInteger)) return 'header lacks bSize, bOffset or fileLength';
  if (frame.length !== 2 + headerLength + size + 2) return 'frame length does not match bSize';
  const bytes = frame.subarray(2 + headerLength, 2 + headerLength + size);
  const crc = frame.readUInt16LE(2 + headerLength + size);
  if (crc16(bytes) !== crc) return 'CRC mismatch';
  return { code, offset, size, fileLength, data: Buffer.from(bytes) };
}

export interface MqttDownloadOptions {
  streamId: number;
  fileId: number;
  size: number;
  write(chunk: Buffer): void;
  onBytes?: (bytes: number) => void;
  nextId(): string;
  /** Sends one block request on thing/file/download. */
  request(body: string): void;
  /** Frames arriving on download_reply (subscribed by the OTA client before any request). */
  listen(frame: (payload: Buffer) => void): () => void;
  blockBytes?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Downloads the stream's file block by block; the caller verifies the digest. */
export function downloadOverMqtt(options: MqttDownloadOptions): Promise<void> {
  const blockBytes = options.blockBytes ?? MQTT_BLOCK_BYTES;
  const timeoutMs = options.timeoutMs ?? MQTT_BLOCK_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let offset = 0;
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    let lastProblem = '';
    const end = (err?: Error) => {
      clearTimeout(timer);
      stopListening();
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => end(new AliyunIotError('OTA_ABORTED', {}));
    const ask = () => {
      if (++tries > MQTT_BLOCK_RETRIES + 1) {
        end(new AliyunIotError('OTA_DOWNLOAD_FAILED', { reason: lastProblem || 'no answer' }));
        return;
      }
      const size = Math.min(blockBytes, options.size - offset);
      const body = {
        id: options.nextId(),
        version: '1.0',
        params: {
          fileToken: String(options.streamId),
          fileInfo: { streamId: options.streamId, fileId: options.fileId },
          fileBlock: { size, offset },
        },
      };
      clearTimeout(timer);
      timer = setTimeout(() => {
        lastProblem = `no block within ${timeoutMs / 1000} s`;
        ask();
      }, timeoutMs);
      options.request(JSON.stringify(body));
    };
    const stopListening = options.listen((payload) => {
      const frame = parseBlockFrame(payload);
      if (typeof frame === 'string') {
        lastProblem = frame;
        return ask();
      }
      // A block for another offset (a late answer to an earlier ask) is not ours to take.
      if (frame.offset !== offset) return;
      options.write(frame.data);
      offset += frame.size;
      tries = 0;
      options.onBytes?.(offset);
      if (offset >= options.size || frame.size === 0) return end();
      ask();
    });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.size === 0) return end();
    ask();
  });
}
