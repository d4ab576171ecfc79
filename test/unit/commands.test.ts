// Cloud commands and time sync, pure parts: parsing by topic, msg.aliyun round trip, reply topics,
// the answered-once book, and the NTP formula.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  answeredRaw,
  CommandBook,
  commandFrom,
  customRrpcTopic,
  parseCommand,
  replyBody,
  replyTopic,
  type Command,
} from '../../nodes/lib/commands';
import { ntpResult, parseNtpResponse } from '../../nodes/lib/ntp';

const d = { productKey: 'pk', deviceName: 'dn' };
const times = { now: 1000, asyncTimeoutMs: 60_000, rrpcTimeoutMs: 20_000 };
const parse = (topic: string, body: string) => parseCommand(d, topic, Buffer.from(body), times);
const alink = (id: string, method: string, params: unknown = {}) =>
  JSON.stringify({ id, version: '1.0', params, method });

describe('commands', () => {
  it('parses property set, services and RRPC by topic; ignores reply echoes; flags bad JSON', () => {
    const set = parse('/sys/pk/dn/thing/service/property/set', alink('5', 'thing.service.property.set', { A: 1 }));
    assert.ok(set && set !== 'malformed');
    assert.equal(set.command.kind, 'property-set');
    assert.deepEqual(set.params, { A: 1 });
    assert.equal(set.command.deadline, 61_000);
    const service = parse('/sys/pk/dn/thing/service/Reboot', alink('6', 'thing.service.Reboot'));
    assert.ok(service && service !== 'malformed');
    assert.equal(service.command.serviceId, 'Reboot');
    const rrpc = parse('/sys/pk/dn/rrpc/request/123456', alink('7', 'thing.service.Echo', { n: 1 }));
    assert.ok(rrpc && rrpc !== 'malformed');
    assert.equal(rrpc.command.messageId, '123456');
    assert.equal(rrpc.command.serviceId, 'Echo');
    assert.equal(rrpc.command.deadline, 1000 + 8000, 'never beyond the platform 8 s');
    const raw = parse('/sys/pk/dn/rrpc/request/9', 'ping');
    assert.ok(raw && raw !== 'malformed');
    assert.equal(raw.params, 'ping');
    assert.equal(raw.command.id, '');
    assert.equal(parse('/sys/pk/dn/thing/service/Reboot_reply', alink('6', 'x')), undefined);
    assert.equal(parse('/sys/pk/dn/thing/service/Reboot', 'nope'), 'malformed');
    assert.equal(parse('/sys/pk/dn/thing/service/Reboot', alink('not-a-number', 'x')), 'malformed');
    assert.equal(parse('/sys/other/dn/thing/service/Reboot', alink('1', 'x')), undefined);
  });

  it('msg.aliyun survives a round trip and is checked; replies go to the right topic and QoS', () => {
    const parsed = parse('/sys/pk/dn/thing/service/Reboot', alink('6', 'thing.service.Reboot'));
    assert.ok(parsed && parsed !== 'malformed');
    const back = commandFrom(JSON.parse(JSON.stringify(parsed.command)));
    assert.deepEqual(back, parsed.command);
    assert.deepEqual(replyTopic(parsed.command), { topic: '/sys/pk/dn/thing/service/Reboot_reply', qos: 1 });
    assert.equal(replyBody(parsed.command, 200, { ok: true }), '{"id":"6","code":200,"data":{"ok":true}}');
    const rrpc = { ...parsed.command, kind: 'rrpc', messageId: '42' } as Command;
    assert.deepEqual(replyTopic(rrpc), { topic: '/sys/pk/dn/rrpc/response/42', qos: 0 });
    for (const bad of [null, 'x', {}, { ...parsed.command, kind: 'other' }, { ...parsed.command, id: 'abc' }])
      assert.equal(commandFrom(bad), undefined, JSON.stringify(bad));
  });

  it('parses raw data and the /ext/rrpc/ forms; each /ext/rrpc/ answer goes to its own topic', () => {
    const bytes = Buffer.from([0x01, 0xff, 0x00, 0x80]);
    const raw = parseCommand(d, '/sys/pk/dn/thing/model/down_raw', bytes, times);
    assert.ok(raw && raw !== 'malformed');
    assert.equal(raw.command.kind, 'raw');
    assert.deepEqual(raw.params, bytes);
    assert.ok(/^\d+$/.test(raw.command.messageId));
    assert.ok(answeredRaw(raw.command));
    assert.deepEqual(replyTopic(raw.command), { topic: '/sys/pk/dn/thing/model/up_raw', qos: 0 });
    assert.deepEqual(replyTopic(raw.command, 'down_raw_reply'), {
      topic: '/sys/pk/dn/thing/model/down_raw_reply',
      qos: 0,
    });
    const extService = parse('/ext/rrpc/77/sys/pk/dn/thing/service/Echo', alink('3', 'thing.service.Echo', { n: 1 }));
    assert.ok(extService && extService !== 'malformed');
    assert.deepEqual(
      [extService.command.kind, extService.command.serviceId, extService.command.messageId, extService.command.id],
      ['rrpc', 'Echo', '77', '3'],
    );
    assert.deepEqual(replyTopic(extService.command), { topic: '/ext/rrpc/77/sys/pk/dn/thing/service/Echo', qos: 0 });
    assert.equal(extService.command.deadline, 1000 + 8000);
    const syncRaw = parseCommand(d, '/ext/rrpc/78/sys/pk/dn/thing/model/down_raw', bytes, times);
    assert.ok(syncRaw && syncRaw !== 'malformed');
    assert.equal(syncRaw.command.kind, 'raw');
    assert.equal(replyTopic(syncRaw.command).topic, '/ext/rrpc/78/sys/pk/dn/thing/model/down_raw');
    const custom = parse('/ext/rrpc/79/pk/dn/user/get', 'hello');
    assert.ok(custom && custom !== 'malformed');
    assert.equal(custom.command.kind, 'topic-rrpc');
    assert.equal(custom.params, 'hello');
    assert.ok(answeredRaw(custom.command));
    assert.equal(replyTopic(custom.command).topic, '/ext/rrpc/79/pk/dn/user/get');
    assert.deepEqual(commandFrom(JSON.parse(JSON.stringify(custom.command))), custom.command);
    assert.equal(parse('/ext/rrpc/80/other/dn/user/get', 'x'), undefined);
    assert.equal(parse('/ext/rrpc/81/sys/pk/dn/thing/service/Echo', 'not json'), 'malformed');
    // A msg.aliyun that would answer elsewhere than its own /ext/rrpc/ topic is not a command.
    assert.equal(commandFrom({ ...custom.command, replyTo: '/pk/dn/user/elsewhere' }), undefined);
    assert.equal(commandFrom({ ...custom.command, replyTo: '' }), undefined);
  });

  it('resolves a custom RRPC topic under the device and refuses other topics', () => {
    assert.equal(customRrpcTopic(d, 'user/get'), '/pk/dn/user/get');
    assert.equal(customRrpcTopic(d, ' /pk/dn/user/get '), '/pk/dn/user/get');
    for (const bad of ['', '/other/dn/user/get', '/pk/dn/', 'user/+', 'user//x'])
      assert.equal(customRrpcTopic(d, bad), undefined, bad);
  });

  it('the book: one reply per command, late ones marked, unanswered reported once', async () => {
    const book = new CommandBook();
    const base: Command = {
      ...d,
      kind: 'service',
      id: '1',
      method: 'm',
      serviceId: 'S',
      messageId: '',
      replyTo: '',
      receivedAt: Date.now(),
      deadline: Date.now() + 30,
    };
    let reported = 0;
    book.open(base, () => reported++);
    book.open(base, () => reported++);
    assert.equal(book.answer(base), 'ok');
    assert.equal(book.answer(base), 'duplicate');
    const other = { ...base, id: '2' };
    book.open(other, () => reported++);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(reported, 1);
    assert.equal(book.answer(other), 'late');
    assert.equal(book.answer({ ...base, id: '3' }), 'unknown');
    book.clear();
    assert.equal(book.size, 0);
  });
});

describe('ntp', () => {
  it('the formula of PLATFORM.md: time, offset and round trip', () => {
    // Device clock 100 ms behind; 20 ms each way; the platform takes 5 ms.
    const stamps = { deviceSendTime: 1000, serverRecvTime: 1120, serverSendTime: 1125 };
    assert.deepEqual(ntpResult(stamps, 1045), { time: 1145, offset: 100, rtt: 40 });
    assert.deepEqual(
      parseNtpResponse('{"deviceSendTime":"1000","serverRecvTime":"1120","serverSendTime":1125}'),
      stamps,
    );
    assert.equal(parseNtpResponse('{"deviceSendTime":"x","serverRecvTime":"1","serverSendTime":"2"}'), undefined);
    assert.equal(parseNtpResponse('nope'), undefined);
  });
});
