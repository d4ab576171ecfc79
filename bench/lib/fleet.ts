// The two fleets of the gateway scenario: N sub-devices behind one gateway, and N direct devices.
// The parent registers them in the emulator and counts their arrivals; the child deploys them.
import type { ProductSpec } from '../../emulator/index';
import type { BenchDevice } from './brokers';

/**
 * 'sub': N sub-devices through one gateway; 'direct': N devices each with its own MQTT connection
 * over TCP; 'direct-tls': the same over TLS, the package's default transport and what a sub-device
 * saves (no socket, no TLS, no keepalive of its own).
 */
export type FleetMode = 'sub' | 'direct' | 'direct-tls';
export const FLEET_MODES: readonly FleetMode[] = ['sub', 'direct', 'direct-tls'];

/** The emulator marks a gateway by its product's node type. */
export const GATEWAY: BenchDevice = { productKey: 'pkBenchGw', deviceName: 'gw-0', deviceSecret: 'gw-0-secret' };
/**
 * The warm-up's gateway: the emulator keeps a gateway's topology across connections, and the
 * warm-up's sub-device would take one of GATEWAY's 2,000 places.
 */
export const WARM_GATEWAY: BenchDevice = {
  productKey: 'pkBenchGw',
  deviceName: 'gw-warm',
  deviceSecret: 'gw-warm-secret',
};

/**
 * Device i of a fleet. Sub-devices and direct devices are different devices (a sub-device logging
 * in through the gateway would kick its own direct session), with names of the same length so both
 * sides publish on topics of the same size.
 */
export function fleetDevice(mode: FleetMode, i: number | 'warm'): BenchDevice {
  const deviceName = `${{ sub: 'sub', direct: 'dir', 'direct-tls': 'tls' }[mode]}-${i}`;
  return { productKey: 'pkBench', deviceName, deviceSecret: `${deviceName}-secret` };
}

export function fleet(mode: FleetMode, count: number): BenchDevice[] {
  return Array.from({ length: count }, (_, i) => fleetDevice(mode, i));
}

/** What the emulator must know before the run: the gateway (and its product) and both fleets. */
export function fleetSpecs(count: number): { devices: BenchDevice[]; products: ProductSpec[] } {
  return {
    devices: [
      GATEWAY,
      WARM_GATEWAY,
      ...FLEET_MODES.flatMap((mode) => [fleetDevice(mode, 'warm'), ...fleet(mode, count)]),
    ],
    products: [{ productKey: GATEWAY.productKey, nodeType: 'gateway' }],
  };
}

/** What a fleet's child reports over IPC, and what the parent asks of it. */
export interface FleetOnline {
  type: 'online';
  devices: number;
  /** From the start of the deploy until every device (every sub-device) was connected. */
  connectMs: number;
  rssPerDevice: number;
  heapPerDevice: number;
  /** State changes to a failure (login refused, kicked) seen before all were online. */
  setbacks: number;
}

export interface FleetSent {
  type: 'sent';
  /** The synchronous loop that handed every message to the publish nodes. */
  injectMs: number;
}

export type FleetReply = FleetOnline | FleetSent;
export type FleetCommand = { type: 'send'; perDevice: number } | { type: 'stop' };
