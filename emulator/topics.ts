// Which topics a device may use: only those naming its own productKey and deviceName
// (PLATFORM.md §6). Identity levels must be literal; other levels of a filter may be wildcards.

type Level = string | typeof PK | typeof DN | typeof ANY;
const PK = Symbol('productKey');
const DN = Symbol('deviceName');
const ANY = Symbol('any level');

/** Leading levels of every topic family a device owns; what follows is free (`rest` levels). */
const FAMILIES: readonly { head: readonly Level[]; minRest: number; maxRest?: number }[] = [
  { head: [PK, DN], minRest: 1 }, // custom: /pk/dn/user/...
  { head: ['sys', PK, DN], minRest: 1 }, // thing model, RRPC
  { head: ['ext', ANY, PK, DN], minRest: 0 }, // ntp, session...
  // RRPC's `/ext/rrpc/{messageId}/...` form (PLATFORM.md §16.2): a sync service or raw call under
  // `sys`, a custom topic keeping its leading slash (one slash between messageId and pk).
  { head: ['ext', 'rrpc', ANY, 'sys', PK, DN], minRest: 1 },
  { head: ['ext', 'rrpc', ANY, PK, DN], minRest: 1 },
  { head: ['shadow', ANY, PK, DN], minRest: 0, maxRest: 0 },
  { head: ['ota', 'device', ANY, PK, DN], minRest: 0 },
];

function matchesFamily(levels: readonly string[], pk: string, dn: string, family: (typeof FAMILIES)[number]): boolean {
  const { head, minRest, maxRest } = family;
  for (let i = 0; i < head.length; i++) {
    const want = head[i];
    const got = levels[i];
    if (got === undefined || got === '#') return false;
    if (want === PK ? got !== pk : want === DN ? got !== dn : want !== ANY && got !== want) return false;
  }
  const rest = levels.length - head.length;
  if (levels[levels.length - 1] === '#') return maxRest === undefined || maxRest > 0;
  return rest >= minRest && (maxRest === undefined || rest <= maxRest);
}

/** True when the topic (or subscription filter) lies under the device's own pk/dn. */
export function deviceOwnsTopic(productKey: string, deviceName: string, topic: string): boolean {
  if (!topic.startsWith('/')) return false;
  const levels = topic.slice(1).split('/');
  return FAMILIES.some((family) => matchesFamily(levels, productKey, deviceName, family));
}

/**
 * A topic (or filter) under the product's broadcast topics `/broadcast/{pk}/...` (PLATFORM.md §17.2:
 * what the OpenAPI's `Pub` may publish to): every device of the product may subscribe, none publish.
 * The product level is literal; the levels after it may be wildcards in a filter.
 */
export function isBroadcastOf(productKey: string, topic: string): boolean {
  const levels = topic.split('/');
  return levels.length >= 4 && levels[0] === '' && levels[1] === 'broadcast' && levels[2] === productKey;
}

/** A topic (or filter) of RRPC's `/ext/rrpc/{messageId}/...` form (PLATFORM.md §16.2). */
export function isExtRrpc(topic: string): boolean {
  return topic.startsWith('/ext/rrpc/');
}

/**
 * The one filter over other devices' topics a device may subscribe: GO3P `ext_rrpc.go` names
 * `/ext/rrpc/#` beside `/ext/rrpc/+/${topic}` (PLATFORM.md §16.2). It delivers only the
 * device's own requests (emulator/sub-device-routing.ts mayForward).
 */
export const EXT_RRPC_ALL = '/ext/rrpc/#';

/**
 * The device a system topic addresses (`/sys/pk/dn/...`, `/ext/<kind>/pk/dn/...`,
 * `/shadow/get/pk/dn`, `/ota/device/<kind>/pk/dn`): what a `_ss=1` connection receives without
 * subscribing (PLATFORM.md §10). Undefined for custom topics and anything else.
 */
export function systemTopicDevice(topic: string): { productKey: string; deviceName: string } | undefined {
  const levels = topic.split('/');
  if (levels[0] !== '') return undefined;
  const at = (i: number) => {
    const productKey = levels[i];
    const deviceName = levels[i + 1];
    return productKey && deviceName ? { productKey, deviceName } : undefined;
  };
  switch (levels[1]) {
    case 'sys':
      return levels.length > 4 ? at(2) : undefined;
    case 'ext':
      // `/ext/rrpc/<id>/sys/pk/dn/...` and `/ext/rrpc/<id>/pk/dn/...` carry an id first.
      if (levels[2] === 'rrpc') return levels[4] === 'sys' ? at(5) : at(4);
      return levels.length > 4 ? at(3) : undefined;
    case 'shadow':
      return levels[2] === 'get' && levels.length === 5 ? at(3) : undefined;
    case 'ota':
      return levels[2] === 'device' && levels.length === 6 ? at(4) : undefined;
    default:
      return undefined;
  }
}

/**
 * The pk/dn a topic or filter names: a system topic's, a shadow request's (`/shadow/update/pk/dn`)
 * or a custom topic's (`/pk/dn/user/...`). A gateway's connection uses its sub-devices' topics
 * (PLATFORM.md §11, PLATFORM.md §13).
 */
export function topicOwner(topic: string): { productKey: string; deviceName: string } | undefined {
  const system = systemTopicDevice(topic);
  if (system) return system;
  const levels = topic.split('/');
  if (levels.length === 5 && levels[0] === '' && levels[1] === 'shadow' && levels[2] === 'update') {
    const [, , , productKey, deviceName] = levels;
    return productKey && deviceName ? { productKey, deviceName } : undefined;
  }
  const [root, productKey, deviceName, kind] = levels;
  return root === '' && productKey && deviceName && kind === 'user' ? { productKey, deviceName } : undefined;
}

/**
 * The shadow's topics go one way each (DOC:53964 https://help.aliyun.com/document_detail/53964.htm):
 * a device publishes requests on `/shadow/update/...` only, and receives answers on
 * `/shadow/get/...` only. True when this use of a topic (or filter) goes the wrong way; a
 * `/shadow/+/pk/dn` filter may be subscribed, it never delivers a request back.
 */
export function shadowWrongWay(topic: string, use: 'publish' | 'receive'): boolean {
  const [root, family, kind] = topic.split('/');
  if (root !== '' || family !== 'shadow') return false;
  return use === 'publish' ? kind !== 'update' : kind === 'update';
}

/** MQTT filter matching (`+` one level, `#` the rest), for topics that never start with `$`. */
export function filterMatches(filter: string, topic: string): boolean {
  const want = filter.split('/');
  const got = topic.split('/');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '#') return true;
    if (i >= got.length || (want[i] !== '+' && want[i] !== got[i])) return false;
  }
  return want.length === got.length;
}
