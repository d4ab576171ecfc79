// Cloud commands and time sync, pure parts: parsing by topic, msg.aliyun round trip, reply topics,
// the answered-once book, and the NTP formula.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandBook, commandFrom, parseCommand, replyBody, replyTopic, type Command } from '../../nodes/lib/commands';
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

  it('the book: one reply per command, late ones marked, unanswered reported once', async () => {
    const book = new CommandBook();
    const base: Command = {
      ...d,
      kind: 'service',
      id: '1',
      method: 'm',
      serviceId: 'S',
      messageId: '',
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
