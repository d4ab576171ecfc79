// The connection's phase: one value instead of a dozen fields whose legal combinations lived in
// guards. What each phase holds is released when it is left (`DeviceConnection.enter`).
//
// Transitions (anything else is ignored):
//
//   idle         --connect()----------------------> waiting (a predecessor logs out) | queued | authorizing | dialing
//   waiting      --predecessor logged out---------> queued | authorizing | dialing
//   queued       --the login pace's turn----------> authorizing | dialing
//   authorizing  --credentials------------------> dialing
//   authorizing  --HTTPS/registration failed-----> backoff (disconnected | auth-failed)
//   dialing      --CONNACK 0---------------------> online
//   dialing      --refused, cached token---------> backoff (reconnecting, 0 ms: a fresh token at once)
//   dialing      --refused / closed--------------> backoff (auth-failed | disconnected | kicked)
//   online       --closed------------------------> backoff (disconnected | kicked)
//   backoff      --timer-------------------------> queued | authorizing | dialing
//   any but waiting, queued, closing, closed --reconnect()--> queued | authorizing | dialing
//   stopped      --connect()---------------------> queued | authorizing | dialing
//   any but closing, closed --disconnect()-------> stopped (after a bounded DISCONNECT)
//   online       --thing/disable, thing/delete---> stopped (disabled | deleted), after the answer
//   any          --close()-----------------------> closing --> closed
//
// `queued`: every login attempt first waits for a slot of the process-wide login pace
// (../login-pace.ts) when none is free at once; it reports connecting / reconnecting as the
// attempt itself does. `authorizing` exists only for logins that need an HTTPS call or a
// registration first; a signed login goes straight to `dialing`. Gateways will add sub-device
// sessions riding on `online`.
import type { ConnectionState, ConnectionStatus } from './status';
import type { MqttSession } from './mqtt-session';

export type Backoff = Pick<ConnectionStatus, 'reason' | 'code'> & {
  state: 'disconnected' | 'auth-failed' | 'kicked' | 'reconnecting';
};

export type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting'; readonly predecessor: Promise<void> }
  | { readonly kind: 'queued'; readonly turn: () => void; readonly retrying: boolean }
  | { readonly kind: 'authorizing'; readonly retrying: boolean }
  | { readonly kind: 'dialing'; readonly session: MqttSession; readonly retrying: boolean }
  | { readonly kind: 'online'; readonly session: MqttSession; readonly since: number }
  | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout; readonly cause: Backoff; readonly delayMs: number }
  /** `halted`: the cloud disabled or deleted the device; it waits for `connect()` all the same. */
  | { readonly kind: 'stopped'; readonly halted?: 'disabled' | 'deleted' }
  | { readonly kind: 'closing'; readonly session?: MqttSession }
  | { readonly kind: 'closed' };

export function sessionOf(phase: Phase): MqttSession | undefined {
  return phase.kind === 'dialing' || phase.kind === 'online' || phase.kind === 'closing' ? phase.session : undefined;
}

export function unreachable(phase: never): never {
  throw new Error(`unhandled connection phase ${JSON.stringify(phase)}`);
}

/**
 * Whether `reconnect()` starts over in a phase (after the predecessor, if it is still logging out),
 * or changes nothing.
 */
export function reconnects(phase: Phase): boolean {
  switch (phase.kind) {
    // queued: its login comes as soon as the pace allows; starting over would only lose its place.
    // authorizing: its credentials are on their way; asking again would register a device twice
    // (the platform refuses the second: a minute of auth-failed backoff), and the call is bounded.
    case 'waiting':
    case 'queued':
    case 'authorizing':
    case 'closing':
    case 'closed':
      return false;
    case 'idle':
    case 'dialing':
    case 'online':
    case 'backoff':
    case 'stopped':
      return true;
    default:
      return unreachable(phase);
  }
}

/** The state a phase reports, and why; undefined where the last report still holds. */
export function reportOf(phase: Phase): { state: ConnectionState; extra: Partial<ConnectionStatus> } | undefined {
  switch (phase.kind) {
    case 'idle':
      return { state: 'idle', extra: {} };
    case 'waiting':
    case 'closing':
      return undefined;
    case 'queued':
    case 'authorizing':
    case 'dialing':
      return { state: phase.retrying ? 'reconnecting' : 'connecting', extra: {} };
    case 'online':
      return { state: 'connected', extra: {} };
    case 'backoff': {
      const { state, reason, code } = phase.cause;
      // A fresh token is fetched at once: there is no wait to show.
      return { state, extra: { reason, code, nextRetryMs: state === 'reconnecting' ? undefined : phase.delayMs } };
    }
    case 'stopped':
      return phase.halted
        ? { state: phase.halted, extra: { reason: `thing/${phase.halted === 'disabled' ? 'disable' : 'delete'}` } }
        : { state: 'stopped', extra: { reason: 'requested' } };
    case 'closed':
      return { state: 'closed', extra: {} };
    default:
      return unreachable(phase);
  }
}
