// The AMQP server-side subscription's login (PLATFORM.md §17.1): the `aksign` user name and the
// base64 HMAC password, both from one timestamp (the platform's own Node sample reads the clock
// twice and fails when the millisecond ticks between the two reads).
import { createHmac } from 'node:crypto';

export const AMQP_SIGN_METHODS = ['hmacsha1', 'hmacsha256', 'hmacmd5'] as const;
export type AmqpSignMethod = (typeof AMQP_SIGN_METHODS)[number];

const HMAC_OF: Record<AmqpSignMethod, string> = { hmacsha1: 'sha1', hmacsha256: 'sha256', hmacmd5: 'md5' };

export interface AmqpLoginInput {
  clientId: string;
  accessKeyId: string;
  accessKeySecret: string;
  consumerGroupId: string;
  /** Empty or absent on an old public instance: sent as `iotInstanceId=` then. */
  iotInstanceId?: string;
  timestampMs: number;
  signMethod?: AmqpSignMethod;
}

export interface AmqpLogin {
  username: string;
  password: string;
}

export function amqpLogin(input: AmqpLoginInput): AmqpLogin {
  const signMethod = input.signMethod ?? 'hmacsha1';
  const timestamp = String(input.timestampMs);
  const username =
    `${input.clientId}|authMode=aksign,signMethod=${signMethod},timestamp=${timestamp},` +
    `authId=${input.accessKeyId},iotInstanceId=${input.iotInstanceId ?? ''},consumerGroupId=${input.consumerGroupId}|`;
  // authId and timestamp, sorted by name, joined as a query string.
  const password = createHmac(HMAC_OF[signMethod], input.accessKeySecret)
    .update(`authId=${input.accessKeyId}&timestamp=${timestamp}`)
    .digest('base64');
  return { username, password };
}
