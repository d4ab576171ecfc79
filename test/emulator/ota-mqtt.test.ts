// OTA firmware over the MQTT channel (PLATFORM.md §14.4): block requests as the Link SDK 4.x
// sends them (trailing comma included), binary replies `[u16 BE len][JSON header][bytes][CRC-16/ARC
// LE]`, reassembled and checked here with a CRC written from the algorithm's definition.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { crc16Arc, type Emulator } from '../../emulator/index';
import { MQTT_DOWNLOAD_MAX_BLOCK, parseLenientJson } from '../../emulator/mqtt-download';
import { MQTT_DOWNLOAD_MAX_BYTES } from '../../emulator/ota';
import { connectSigned, https, nextMessage, start } from '../helpers/emulator';
import { assertEverySdkAccepts, nextPush, otaApi, upgradeTopic } from './ota-fixture';

const lamp = { productKey: 'pkOtaMqtt', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const downloadTopic = `/sys/${lamp.productKey}/${lamp.deviceName}/thing/file/download`;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** CRC-16/ARC bit by bit from its definition (poly 0x8005 reflected, init 0, no xorout), independent of the emulator's. */
function referenceCrc(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    for (let bit = 0; bit < 8; bit++) {
      const mix = (crc ^ (byte >> bit)) & 1;
      crc >>= 1;
      if (mix) crc ^= 0xa001;
    }
  }
  return crc;
}

interface Frame {
  header: {
    code: number;
    data?: { bSize: number; bOffset: number; fileLength: number; fileToken?: string };
    message?: string;
  };
  data: Buffer;
  crc?: number;
  length: number;
}

function parseFrame(payload: Buffer): Frame {
  const headerLength = payload.readUInt16BE(0);
  const header = JSON.parse(payload.subarray(2, 2 + headerLength).toString()) as Frame['header'];
  const size = header.data?.bSize ?? 0;
  const data = payload.subarray(2 + headerLength, 2 + headerLength + size);
  const crc = header.data ? payload.readUInt16LE(2 + headerLength + size) : undefined;
  return { header, data, crc, length: payload.length };
}

/** The request exactly as L4's format string prints it: `"fileId":%s,}` (trailing comma). */
const l4Request = (id: number, streamId: number, size: number, offset: number) =>
  `{"id":"${id}","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":${streamId},"fileId":1,},"fileBlock":{"size":${size},"offset":${offset}}}}`;

describe('emulator: OTA over the MQTT channel', () => {
  let emu: Emulator;
  let client: MqttClient;
  const ask = async (request: string | object): Promise<Frame> => {
    const reply = nextMessage(client, `${downloadTopic}_reply`);
    await client.publishAsync(downloadTopic, typeof request === 'string' ? request : JSON.stringify(request), {
      qos: 0,
    });
    return parseFrame((await reply).payload);
  };
  const fetchAll = async (streamId: number, fileLength: number, block: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for (let offset = 0, id = 1; offset < fileLength; id++) {
      const frame = await ask(l4Request(id, streamId, block, offset));
      assert.equal(frame.header.code, 200);
      const {
        bSize,
        bOffset,
        fileLength: length,
        fileToken,
      } = frame.header.data ?? { bSize: -1, bOffset: -1, fileLength: -1 };
      assert.deepEqual([bOffset, length, fileToken], [offset, fileLength, 'default']);
      assert.equal(bSize, Math.min(block, fileLength - offset), 'the last block is short');
      assert.equal(frame.length, 2 + Buffer.byteLength(JSON.stringify(frame.header)) + bSize + 2, 'total length');
      assert.equal(frame.crc, referenceCrc(frame.data), 'CRC-16/ARC of the block, low byte first');
      parts.push(frame.data);
      offset += bSize;
    }
    return Buffer.concat(parts);
  };

  before(async () => {
    emu = await start({ rateLimit: 0, devices: [lamp] });
    client = await connectSigned(emu, lamp);
    await client.subscribeAsync([upgradeTopic(lamp), `${downloadTopic}_reply`], { qos: 1 });
  });
  after(async () => {
    await client.endAsync(true);
    await emu.close();
  });

  it('computes CRC-16/ARC: "123456789" is 0xBB3D', () => {
    assert.equal(crc16Arc(Buffer.from('123456789', 'ascii')), 0xbb3d);
    assert.equal(crc16Arc(Buffer.alloc(0)), 0);
    const sample = randomBytes(999);
    assert.equal(crc16Arc(sample), referenceCrc(sample));
  });

  it('reads JSON with trailing commas outside strings only', () => {
    assert.deepEqual(parseLenientJson('{"a":{"b":1,},"c":[1,2, ] ,}'), { a: { b: 1 }, c: [1, 2] });
    assert.deepEqual(parseLenientJson('{"s":",}","t":"\\",]"}'), { s: ',}', t: '",]' });
    assert.throws(() => parseLenientJson('{"a":1'));
    assert.throws(() => parseLenientJson('{"a":1,,}'));
  });

  it('serves a firmware of several blocks; reassembled, it matches the push md5 and sign', async () => {
    const firmware = randomBytes(12_345);
    const pushed = nextPush(client, lamp);
    const answer = await https(emu, 'POST', otaApi(lamp), {
      version: '2.0.0',
      firmware: firmware.toString('base64'),
      protocol: 'mqtt',
    });
    assert.equal(answer.status, 200);
    const push = await pushed;
    assertEverySdkAccepts(push, 'mqtt');
    const streamId = push.data.streamId as number;
    const got = await fetchAll(streamId, firmware.length, 5120);
    assert.ok(got.equals(firmware));
    assert.equal(md5(got), push.data.md5);
    assert.equal(md5(got), push.data.sign);
    // A request without fileToken gets none back; numbers as strings are read too (forgiving).
    const frame = await ask({
      id: 9,
      params: { fileInfo: { streamId: String(streamId), fileId: '1' }, fileBlock: { size: 10, offset: 12_340 } },
    });
    assert.deepEqual(frame.header, { code: 200, data: { bSize: 5, bOffset: 12_340, fileLength: 12_345 } });
    assert.ok(frame.data.equals(firmware.subarray(12_340)));
  });

  it('answers a request it cannot serve with a non-200 header and no data', async () => {
    const streamId = emu.ota.jobs.latest(lamp)?.streamId ?? 0;
    const refusals: [string | object, number][] = [
      [l4Request(20, streamId + 1, 5120, 0), 404],
      [{ id: 21, params: { fileInfo: { streamId, fileId: 2 }, fileBlock: { size: 10, offset: 0 } } }, 404],
      [l4Request(22, streamId, 5120, 12_345), 460],
      [l4Request(23, streamId, MQTT_DOWNLOAD_MAX_BLOCK + 1, 0), 460],
      [l4Request(24, streamId, 0, 0), 460],
      ['not json', 460],
      [{ id: 25, params: {} }, 460],
    ];
    for (const [request, code] of refusals) {
      const frame = await ask(request);
      assert.equal(frame.header.code, code, JSON.stringify(request));
      assert.equal(frame.header.data, undefined);
      assert.equal(typeof frame.header.message, 'string');
      assert.equal(frame.length, 2 + Buffer.byteLength(JSON.stringify(frame.header)));
    }
    // Still serving after the refusals.
    assert.equal((await ask(l4Request(26, streamId, 16, 0))).header.code, 200);
  });

  it('serves a corrupt MQTT job with good CRCs but a file that fails the md5', async () => {
    const firmware = randomBytes(6000);
    const pushed = nextPush(client, lamp);
    await https(emu, 'POST', otaApi(lamp), {
      version: '2.0.1',
      firmware: firmware.toString('base64'),
      protocol: 'mqtt',
      corrupt: true,
    });
    const push = await pushed;
    const got = await fetchAll(push.data.streamId as number, firmware.length, 4096);
    assert.notEqual(md5(got), push.data.md5);
  });

  it('refuses an MQTT job over 16 MB', async () => {
    const device = emu.registry.device(lamp.productKey, lamp.deviceName);
    assert.ok(device);
    const big = await emu.ota.start(device, {
      version: '3.0.0',
      files: [{ name: 'big.bin', bytes: Buffer.alloc(MQTT_DOWNLOAD_MAX_BYTES + 1) }],
      protocol: 'mqtt',
    });
    assert.deepEqual(big, {
      ok: false,
      problem: `MQTT-channel download is for files of at most ${MQTT_DOWNLOAD_MAX_BYTES} bytes (16 MB)`,
    });
    // A file of exactly 16 MB is taken.
    const limit = await emu.ota.start(device, {
      version: '3.0.1',
      files: [{ name: 'limit.bin', bytes: Buffer.alloc(MQTT_DOWNLOAD_MAX_BYTES) }],
      protocol: 'mqtt',
    });
    assert.equal(limit.ok, true);
  });
});
