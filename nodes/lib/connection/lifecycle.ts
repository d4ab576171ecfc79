// The cloud's lifecycle notices to a directly connected device (PLATFORM.md §16.3): `thing/disable`,
// `thing/enable` and `thing/delete`, each answered. After disable or delete the platform refuses the
// device's logins, and a device that keeps trying gets the whole account throttled: the connection
// stops instead, until the user connects it again (the connect node, a redeploy). `enable` cannot
// reach a device that is offline, so it lifts nothing by itself; it is answered when it arrives.
import { parseJsonObject } from '../payload';
import type { DeviceRef } from '../alink';

export const LIFECYCLE_NOTICES = ['disable', 'enable', 'delete'] as const;
export type LifecycleNotice = (typeof LIFECYCLE_NOTICES)[number];

export const lifecycleTopic = ({ productKey, deviceName }: DeviceRef, notice: LifecycleNotice) =>
  `/sys/${productKey}/${deviceName}/thing/${notice}`;

/** The answer the SDKs send (Link SDK 4.x: `{"id":"…","code":200,"data":{}}`), the id echoed. */
export function lifecycleReply(payload: Buffer): string {
  const body = parseJsonObject(payload);
  const id = typeof body?.id === 'string' || typeof body?.id === 'number' ? body.id : '';
  return JSON.stringify({ id, code: 200, data: {} });
}

/** What the connection becomes after a notice: stopped as disabled or deleted, or nothing changes. */
export function haltFor(notice: LifecycleNotice): 'disabled' | 'deleted' | undefined {
  return notice === 'disable' ? 'disabled' : notice === 'delete' ? 'deleted' : undefined;
}
