// Which device a connection speaks for on a topic (PLATFORM.md §11): its own topics, and a
// gateway's logged-in sub-devices' topics (`/sys/{subPK}/{subDN}/...`, `/{subPK}/{subDN}/user/...`,
// `/ext/ntp/{subPK}/{subDN}/...`, `/shadow/update|get/{subPK}/{subDN}`) on the gateway's connection.
import type { DeviceRecord, Registry } from './registry';
import { deviceOwnsTopic, EXT_RRPC_ALL, isBroadcastOf, isExtRrpc, shadowWrongWay, topicOwner } from './topics';

/** How a gateway's connection carries its sub-devices' traffic; the gateway state answers. */
export interface SubDeviceHooks {
  isGateway(device: DeviceRecord): boolean;
  /** The gateway whose connection carries this sub-device's session, if any. */
  sessionOf(sub: DeviceRecord): DeviceRecord | undefined;
  /** A gateway sent on the topic of a sub-device not logged in through it: the message is dropped. */
  refused(gateway: DeviceRecord, sub: { productKey: string; deviceName: string }, payload: Buffer): void;
  /** A device's own MQTT session starts (before its CONNACK) or ends. */
  started(device: DeviceRecord): void;
  ended(device: DeviceRecord): void;
}

export class SubDeviceRouting {
  constructor(
    private readonly registry: Registry,
    private readonly hooks: SubDeviceHooks | undefined,
  ) {}

  /** The device a topic speaks for on this device's connection; undefined: not allowed now. */
  actorOf(device: DeviceRecord, topic: string): DeviceRecord | undefined {
    if (deviceOwnsTopic(device.productKey, device.deviceName, topic)) return device;
    const sub = this.ownerRecord(topic);
    return sub && this.hooks?.sessionOf(sub) === device ? sub : undefined;
  }

  /**
   * Whom a gateway's refused publish was for, to be told 520 on `/ext/error`. Any pk/dn the topic
   * names counts, known to the emulator or not: the gateway learns the send failed either way
   * (forgiving; the rules say 520 for "not logged in" and name nothing for unknown devices).
   */
  refusedOwner(device: DeviceRecord, topic: string): { productKey: string; deviceName: string } | undefined {
    return this.hooks?.isGateway(device) ? topicOwner(topic) : undefined;
  }

  /**
   * A gateway's subscription to a sub-device's topic delivers only while that sub-device is logged
   * in through it. A shadow request is never delivered to a device (`/shadow/+/pk/dn` matches it).
   */
  mayForward(device: DeviceRecord, topic: string): boolean {
    if (shadowWrongWay(topic, 'receive')) return false;
    // `/ext/rrpc/#` matches every device's requests: each connection gets its own (and its sub-devices').
    if (isExtRrpc(topic)) return this.actorOf(device, topic) !== undefined;
    // The product's broadcast (the OpenAPI's `Pub`): each device of that product; a gateway its own product's.
    if (topic.startsWith('/broadcast/')) return isBroadcastOf(device.productKey, topic);
    return !this.hooks?.isGateway(device) || this.actorOf(device, topic) !== undefined;
  }

  /**
   * A gateway may SUBSCRIBE to any known device's topics, before that device logs in through it
   * too (the forgiving choice: the rules do not say; the SDKs subscribe after the login reply):
   * the subscription is kept and delivers only while the sub-device is logged in (mayForward).
   */
  maySubscribe(device: DeviceRecord, filter: string): boolean {
    if (shadowWrongWay(filter, 'receive')) return false;
    if (filter === EXT_RRPC_ALL || deviceOwnsTopic(device.productKey, device.deviceName, filter)) return true;
    if (isBroadcastOf(device.productKey, filter)) return true;
    return this.hooks?.isGateway(device) === true && this.ownerRecord(filter) !== undefined;
  }

  /** A known device whose topic (or filter) this is, literal pk/dn levels only. */
  private ownerRecord(topic: string): DeviceRecord | undefined {
    const owner = topicOwner(topic);
    const device = owner && this.registry.device(owner.productKey, owner.deviceName);
    return device && deviceOwnsTopic(device.productKey, device.deviceName, topic) ? device : undefined;
  }
}
