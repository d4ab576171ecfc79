// settings.js `aliyunIotDeviceLoginRate`: the process-wide pace of direct device logins
// (../lib/login-pace.ts), read when the nodes load. A value that is not a number of logins per
// second (0 switches the pace off) is warned about and the default kept.
import type { NodeAPI } from 'node-red';
import { DEFAULT_LOGIN_RATE } from '../lib/login-pace';
import { localize } from './i18n';

export const LOGIN_RATE_SETTING = 'aliyunIotDeviceLoginRate';

export function loginRateOf(RED: NodeAPI): number {
  const value = (RED.settings as unknown as Record<string, unknown>)[LOGIN_RATE_SETTING];
  if (value === undefined) return DEFAULT_LOGIN_RATE;
  const rate = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof rate === 'number' && Number.isFinite(rate) && rate >= 0) return rate;
  RED.log.warn(
    localize(RED, 'LOGIN_RATE_INVALID', {
      value: typeof value === 'object' ? JSON.stringify(value) : `${value as string | number | boolean}`,
      rate: DEFAULT_LOGIN_RATE,
    }),
  );
  return DEFAULT_LOGIN_RATE;
}
