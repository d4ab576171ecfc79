// One pace for every direct device login in this process: a deploy of 10,000 devices, or 10,000
// devices coming back after their broker returned, log in at most `rate` per second instead of all
// in the same instant, which is what an account's connect limit (the platform's
// AccountConnectQPSLimit throttling event; no figure is published for direct devices) and the
// auth service behind it see. Sub-devices are paced by their gateway (200/s, PLATFORM.md §11).
//
// The pace is the token bucket of ./pacer.ts: no burst bigger than 10 ms of logins (a broker's
// accept queue drops what comes faster, and each drop costs a 1 s SYN retry), waiting logins let
// through in arrival order.
import { SharedPace } from './pacer';

/**
 * The default, in logins per second (settings.js `aliyunIotDeviceLoginRate`). UNVERIFIED: the
 * platform publishes no account-wide connect rate for direct devices; the only documented login
 * rate is 200/s per gateway for its sub-devices. 2,000/s keeps a deploy or a return of 10,000
 * devices to about five seconds, no slower than this machine can sign and dial them, while
 * never letting a whole fleet log in within the same instant.
 */
export const DEFAULT_LOGIN_RATE = 2000;

/** The pace every node file shares; the device config node sets its rate from settings.js. */
export const sharedLoginPace = new SharedPace(DEFAULT_LOGIN_RATE, () => performance.now());
