// Device topics: placeholders, the relative form, and what MQTT and the platform allow.

export interface DeviceIdentity {
  productKey: string;
  deviceName: string;
}

export type TopicErrorCode = 'TOPIC_MISSING' | 'TOPIC_WILDCARD' | 'TOPIC_INVALID' | 'FILTER_INVALID';

/**
 * `${productKey}` and `${deviceName}` filled in; a topic without a leading `/` is relative to the
 * device's custom topics: `user/update` becomes `/${pk}/${dn}/user/update`.
 */
export function expandTopic(template: string, device: DeviceIdentity): string {
  const filled = template
    .trim()
    .replaceAll('${productKey}', device.productKey)
    .replaceAll('${deviceName}', device.deviceName);
  if (filled === '' || filled.startsWith('/')) return filled;
  return `/${device.productKey}/${device.deviceName}/${filled}`;
}

// NUL is forbidden by MQTT; other control characters only cause trouble on the platform.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** MQTT carries a topic's length in two bytes: a longer one cannot be sent, and kills the packet. */
export const MAX_TOPIC_BYTES = 65_535;

/** UTF-8 length without Buffer: the editor runs this module in the browser too. */
function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

function tooLong(topic: string): boolean {
  // Cheap first: a string this short cannot exceed the limit even in 3-byte UTF-8.
  return topic.length > MAX_TOPIC_BYTES / 3 && utf8Bytes(topic) > MAX_TOPIC_BYTES;
}

export function checkPublishTopic(topic: string): TopicErrorCode | undefined {
  if (topic === '') return 'TOPIC_MISSING';
  if (tooLong(topic)) return 'TOPIC_INVALID';
  if (topic.includes('+') || topic.includes('#')) return 'TOPIC_WILDCARD';
  if (CONTROL.test(topic) || topic.includes('${')) return 'TOPIC_INVALID';
  return undefined;
}

/** `+` and `#` only as whole levels, `#` only last. */
export function checkFilter(filter: string): TopicErrorCode | undefined {
  if (filter === '') return 'TOPIC_MISSING';
  if (tooLong(filter)) return 'FILTER_INVALID';
  if (CONTROL.test(filter) || filter.includes('${')) return 'FILTER_INVALID';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? '';
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return 'FILTER_INVALID';
    if (level.includes('+') && level !== '+') return 'FILTER_INVALID';
  }
  return undefined;
}
