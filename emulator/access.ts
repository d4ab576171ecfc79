// Who may use the cloud API: the platform signs every cloud call with an AccessKey; the emulator
// asks for a bearer token instead once it listens beyond this machine.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

function bare(host: string): string {
  return host
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: only this machine can reach such a listener. */
export function isLoopbackHost(host: string): boolean {
  const h = bare(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) !== 6) return false;
  return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h);
}

/** 0.0.0.0 and ::: every interface, so clients reach it under names the host setting does not give. */
export function isWildcardHost(host: string): boolean {
  const h = bare(host);
  return h === '0.0.0.0' || h === '::' || /^(0{1,4}:){7}0{1,4}$/.test(h);
}

/** The peer as logs and counters name it: IPv4-mapped IPv6 shown as IPv4. */
export function peerAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') && isIP(remote.slice(7)) === 4 ? remote.slice(7) : remote;
}

export function newApiToken(): string {
  return randomBytes(16).toString('hex');
}

/** Why a token cannot be used, or undefined: it travels in an HTTP header, so visible ASCII only. */
export function apiTokenProblem(token: string): string | undefined {
  if (token === '') return 'the API token must not be empty';
  if (!/^[\x21-\x7e]+$/.test(token)) return 'the API token must be visible ASCII characters without spaces';
  return undefined;
}

/** The token the API needs: the one given, a generated one off loopback, or none (the API is open). */
export function effectiveApiToken(host: string, given: string | undefined, openApi: boolean): string | undefined {
  if (given !== undefined) {
    const problem = apiTokenProblem(given);
    if (problem) throw new Error(problem);
    return given;
  }
  return isLoopbackHost(host) || openApi ? undefined : newApiToken();
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Checks `Authorization: Bearer <token>` in constant time (digests have equal lengths whatever is sent). */
export class ApiGate {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  allows(authorization: string | undefined): boolean {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    // Something is always compared, so a missing header takes as long as a wrong one.
    const presented = digest(match?.[1] ?? '');
    return timingSafeEqual(presented, this.expected) && match !== null;
  }
}
