// What a data-flow topic (PLATFORM.md §17.1) says about the device it came from.

/** The productKey and deviceName a data-flow topic names; nothing for topics that name none. */
export function dataFlowTopic(topic: string): { productKey?: string; deviceName?: string } {
  // /as/mqtt/status/{pk}/{dn}: online and offline.
  const status = /^\/as\/mqtt\/status\/([^/]+)\/([^/]+)$/.exec(topic);
  if (status) return { productKey: status[1], deviceName: status[2] };
  // /{pk}/{dn}/thing/..., /{pk}/{dn}/user/..., /{pk}/{dn}/ota/...; not the OTA job's
  // /{pk}/{packageId}/{jobId}/ota/job/status, which names no device.
  const device = /^\/([^/]+)\/([^/]+)\/(thing|user|ota)\//.exec(topic);
  if (device) return { productKey: device[1], deviceName: device[2] };
  // /sys/{pk}/{dn}/... as some data flows name them.
  const sys = /^\/sys\/([^/]+)\/([^/]+)\//.exec(topic);
  if (sys) return { productKey: sys[1], deviceName: sys[2] };
  return {};
}
