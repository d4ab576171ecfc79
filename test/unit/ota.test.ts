// OTA's pure parts: the offer read as every SDK's parser would (signMethod spellings, multi-file,
// MQTT channel), the reports' shapes, progress steps, the versions a restart reports, CRC-16 frames
// and the MQTT block download against a scripted platform.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc16, downloadOverMqtt, parseBlockFrame } from '../../nodes/lib/ota/mqtt-download';
import {
  digestMethodOf,
  otaBodies,
  parseOffer,
  parseUpgradePush,
  ProgressSteps,
  type UpgradeOffer,
} from '../../nodes/lib/ota/protocol';
import { safeName } from '../../nodes/lib/ota/upgrade';
import { keepReported, parseModuleVersions, versionsToReport } from '../../nodes/lib/ota/versions';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function offerOf(data: unknown): UpgradeOffer {
  const parsed = parseOffer(data);
  assert.ok(parsed?.ok, JSON.stringify(parsed));
  return parsed.offer;
}

/** `[u16 BE header length][JSON header][bytes][CRC-16 LE]`, as the platform frames a block. */
function frame(header: object, bytes: Buffer, crc = crc16(bytes)): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(2 + json.length + bytes.length + 2);
  out.writeUInt16BE(json.length, 0);
  json.copy(out, 2);
  bytes.copy(out, 2 + json.length);
  out.writeUInt16LE(crc, 2 + json.length + bytes.length);
  return out;
}

describe('OTA protocol', () => {
  it('reads every spelling of signMethod the SDKs and the docs use', () => {
    for (const s of ['Md5', 'MD5', 'md5']) assert.equal(digestMethodOf(s), 'md5');
    for (const s of ['SHA256', 'Sha256', 'sha256', 'SHA-256']) assert.equal(digestMethodOf(s), 'sha256');
    for (const s of ['hmacSha256', 'CRC', '', 5, undefined]) assert.equal(digestMethodOf(s), undefined);
  });

  it('reads the documented single-file HTTPS push', () => {
    const file = 'firmware bytes';
    const push = {
      code: '1000',
      data: {
        size: file.length,
        version: '2.0.0',
        isDiff: 1,
        url: 'https://ota.example/nop.tar.gz?Expires=1502955804&Signature=x',
        md5: md5(file),
        sign: md5(file).toUpperCase(),
        signMethod: 'MD5',
        module: 'MCU',
        extData: { key1: 'value1' },
      },
      id: 1626969597470,
      message: 'success',
    };
    const parsed = parseUpgradePush(Buffer.from(JSON.stringify(push)));
    assert.ok(parsed?.ok);
    const offer = parsed.offer;
    assert.equal(offer.version, '2.0.0');
    assert.equal(offer.module, 'MCU');
    assert.equal(offer.digest, 'md5');
    assert.equal(offer.protocol, 'https');
    assert.equal(offer.isDiff, true);
    assert.deepEqual(offer.extData, { key1: 'value1' });
    assert.deepEqual(offer.files, [{ name: 'nop.tar.gz', size: file.length, url: push.data.url, sign: md5(file) }]);
  });

  it('reads a SHA256 offer without module as the whole device, and an md5-only one as MD5', () => {
    const s = sha256('x');
    const offer = offerOf({
      size: 1,
      version: '1.1',
      url: 'https://h/f.bin',
      sign: s,
      signMethod: 'Sha256',
      md5: md5('x'),
    });
    assert.equal(offer.module, 'default');
    assert.equal(offer.digest, 'sha256');
    assert.equal(offer.md5, md5('x'));
    const old = offerOf({ size: 1, version: '1.2', url: 'https://h/f.bin', md5: md5('x') });
    assert.equal(old.digest, 'md5');
    assert.equal(old.files[0]?.sign, md5('x'));
  });

  it('reads a multi-file offer and an MQTT-channel offer', () => {
    const multi = offerOf({
      version: '3.0',
      signMethod: 'SHA256',
      files: [
        { fileName: 'a.bin', fileSize: 3, fileUrl: 'https://h/a.bin', fileSign: sha256('aaa') },
        { fileName: 'b.bin', fileSize: 2, fileUrl: 'https://h/b.bin', fileSign: sha256('bb') },
      ],
    });
    assert.equal(multi.size, 5);
    assert.deepEqual(
      multi.files.map((f) => f.name),
      ['a.bin', 'b.bin'],
    );
    const mqtt = offerOf({
      size: 9,
      version: '4',
      sign: md5('x'),
      signMethod: 'Md5',
      dProtocol: 'mqtt',
      streamId: 77,
      streamFileId: 1,
    });
    assert.equal(mqtt.protocol, 'mqtt');
    assert.equal(mqtt.streamId, 77);
    assert.equal(mqtt.streamFileId, 1);
    assert.equal(mqtt.files[0]?.url, '');
  });

  it('says what is wrong with an offer it cannot take, and nothing for empty data', () => {
    assert.equal(parseOffer({}), undefined);
    assert.equal(parseOffer(null), undefined);
    const cases: [unknown, RegExp][] = [
      [{ size: 1, url: 'https://h/f', sign: md5('x'), signMethod: 'Md5' }, /version/],
      [{ size: 1, version: '1', url: 'https://h/f', sign: md5('x'), signMethod: 'CRC32' }, /signMethod/],
      [{ size: 1, version: '1', url: 'https://h/f', sign: 'abc', signMethod: 'Md5' }, /sign is not a md5/],
      [{ size: 1, version: '1', url: 'https://h/f', sign: md5('x'), signMethod: 'SHA256' }, /sha256/],
      [{ version: '1', url: 'https://h/f', sign: md5('x'), signMethod: 'Md5' }, /size/],
      [{ size: 1, version: '1', sign: md5('x'), signMethod: 'Md5' }, /url/],
      [{ size: 1, version: '1', sign: md5('x'), signMethod: 'Md5', dProtocol: 'mqtt' }, /streamId/],
      [
        { version: '1', signMethod: 'Md5', files: [{ fileSize: 1, fileUrl: 'ftp://x', fileSign: md5('x') }] },
        /fileUrl/,
      ],
    ];
    for (const [data, reason] of cases) {
      const parsed = parseOffer(data);
      assert.ok(parsed && !parsed.ok, JSON.stringify(data));
      assert.match(parsed.reason, reason);
    }
    assert.deepEqual(parseUpgradePush(Buffer.from('not json')), { ok: false, reason: 'not JSON' });
  });

  it('sends inform and progress without method, module only when not the whole device, step as a string', () => {
    assert.deepEqual(JSON.parse(otaBodies.inform('7', '1.0.0', 'default')), { id: '7', params: { version: '1.0.0' } });
    assert.deepEqual(JSON.parse(otaBodies.inform('8', '2.0', 'MCU')), {
      id: '8',
      params: { version: '2.0', module: 'MCU' },
    });
    assert.deepEqual(JSON.parse(otaBodies.progress('9', -3, 'bad', 'MCU')), {
      id: '9',
      params: { step: '-3', desc: 'bad', module: 'MCU' },
    });
    assert.deepEqual(JSON.parse(otaBodies.firmwareGet('10', 'default')), {
      id: '10',
      version: '1.0',
      params: {},
      method: 'thing.ota.firmware.get',
    });
  });

  it('reports progress at most every 5 %, 0 first and 100 last', () => {
    const steps = new ProgressSteps(1000);
    const seen = [0, 10, 49, 50, 51, 99, 120, 500, 990, 999, 1000, 1000].map((b) => steps.next(b));
    assert.deepEqual(seen, [0, undefined, undefined, 5, undefined, undefined, 10, 50, 95, undefined, 100, undefined]);
  });

  it('makes names from the cloud safe to join under a directory', () => {
    assert.equal(safeName('../../etc/passwd'), '__.._etc_passwd');
    assert.equal(safeName('fw v2.bin'), 'fw_v2.bin');
    assert.equal(safeName(''), '_');
  });
});

describe('OTA versions across restarts', () => {
  it('parses the whole device and module versions, and names the entry it cannot read', () => {
    assert.deepEqual(parseModuleVersions('1.0.0', 'MCU=1.0.3, WIFI = 2.0'), {
      default: '1.0.0',
      MCU: '1.0.3',
      WIFI: '2.0',
    });
    assert.deepEqual(parseModuleVersions('', ''), {});
    assert.equal(parseModuleVersions('', 'MCU=1, bad'), 'bad');
    assert.equal(parseModuleVersions('', 'MCU=1, MCU=2'), 'MCU=2');
    assert.equal(parseModuleVersions('', 'a b=1'), 'a b=1');
    assert.equal(parseModuleVersions('x'.repeat(65), ''), 'x'.repeat(65));
  });

  it('reports what the flow reported after a restart, until the configured version is edited', () => {
    const configured = { default: '1.0', MCU: '1.0' };
    assert.deepEqual(versionsToReport(configured, undefined), configured);
    const kept = keepReported(configured, undefined, 'default', '2.0');
    assert.deepEqual(versionsToReport(configured, kept), { default: '2.0', MCU: '1.0' });
    // The user edits the configured version: that is the truth again.
    const edited = { default: '3.0', MCU: '1.0' };
    assert.deepEqual(versionsToReport(edited, kept), edited);
    // A later report keeps the other modules' reports whose configuration did not change.
    const both = keepReported(configured, kept, 'MCU', '1.5');
    assert.deepEqual(versionsToReport(configured, both), { default: '2.0', MCU: '1.5' });
    assert.deepEqual(keepReported(edited, both, 'MCU', '1.6').reported, { MCU: '1.6' });
  });
});

describe('OTA over the MQTT channel', () => {
  it('computes CRC-16/ARC (check value of "123456789" is 0xBB3D)', () => {
    assert.equal(crc16(Buffer.from('123456789')), 0xbb3d);
    assert.equal(crc16(Buffer.alloc(0)), 0);
  });

  it('reads a block frame and says what is wrong with a bad one', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const header = { code: 200, data: { bSize: 5, bOffset: 10, fileLength: 15, fileToken: 't' } };
    const ok = parseBlockFrame(frame(header, bytes));
    assert.ok(typeof ok !== 'string');
    assert.deepEqual([ok.offset, ok.size, ok.fileLength, [...ok.data]], [10, 5, 15, [...bytes]]);
    assert.equal(parseBlockFrame(frame(header, bytes, 1)), 'CRC mismatch');
    assert.equal(parseBlockFrame(frame({ ...header, code: 400 }, bytes)), 'code 400');
    assert.equal(
      parseBlockFrame(frame({ code: 200, data: { bSize: 5 } }, bytes)),
      'header lacks bSize, bOffset or fileLength',
    );
    assert.equal(parseBlockFrame(frame(header, bytes).subarray(0, -1)), 'frame length does not match bSize');
    assert.equal(parseBlockFrame(Buffer.from([0])), 'frame too short');
  });

  /** A platform that answers block requests from `file`, with `spoil` deciding which answers go wrong. */
  function platform(file: Buffer, spoil: (n: number) => 'crc' | 'silent' | undefined = () => undefined) {
    let listener: ((payload: Buffer) => void) | undefined;
    const asked: { offset: number; size: number }[] = [];
    return {
      asked,
      listen: (l: (payload: Buffer) => void) => {
        listener = l;
        return () => (listener = undefined);
      },
      request: (body: string) => {
        const { params } = JSON.parse(body) as { params: { fileBlock: { offset: number; size: number } } };
        const { offset, size } = params.fileBlock;
        asked.push({ offset, size });
        const how = spoil(asked.length);
        if (how === 'silent') return;
        const bytes = file.subarray(offset, offset + size);
        const header = { code: 200, data: { bSize: bytes.length, bOffset: offset, fileLength: file.length } };
        const out = frame(header, bytes, how === 'crc' ? crc16(bytes) ^ 1 : undefined);
        setImmediate(() => listener?.(out));
      },
    };
  }

  it('fetches a file block by block and asks again after a bad CRC or silence', async () => {
    const file = Buffer.from(Array.from({ length: 12_000 }, (_, i) => i % 251));
    const p = platform(file, (n) => (n === 2 ? 'crc' : n === 4 ? 'silent' : undefined));
    const chunks: Buffer[] = [];
    await downloadOverMqtt({
      streamId: 5,
      fileId: 1,
      size: file.length,
      write: (c) => chunks.push(c),
      nextId: () => '1',
      listen: p.listen,
      request: p.request,
      timeoutMs: 50,
    });
    assert.deepEqual(Buffer.concat(chunks), file);
    assert.deepEqual(
      p.asked.map((a) => a.offset),
      [0, 5120, 5120, 10240, 10240],
    );
    assert.equal(p.asked.at(-1)?.size, 12_000 - 10_240);
  });

  it('gives up after three more tries on the same block', async () => {
    const p = platform(Buffer.alloc(100), () => 'crc');
    await assert.rejects(
      downloadOverMqtt({
        streamId: 5,
        fileId: 1,
        size: 100,
        write: () => undefined,
        nextId: () => '1',
        ...p,
        timeoutMs: 50,
      }),
      (err: Error & { code?: string }) => err.code === 'OTA_DOWNLOAD_FAILED' && /CRC/.test(err.message),
    );
    assert.equal(p.asked.length, 4);
  });
});
