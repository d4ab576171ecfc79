// Asks the platform's time over /ext/ntp on input, or every N minutes, and outputs
// msg.payload = { time, offset, rtt }.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { ntpClientOf } from './lib/ntp';
import { linkDevice } from './support/device-link';
import { millisecondsOf } from './support/durations';
import { localizedError } from './support/i18n';

interface TimeDef extends NodeDef {
  device?: string;
  interval?: string | number;
  timeout?: string | number;
}

const DEFAULT_TIMEOUT_S = 10;
/** A mistyped interval must not turn into a request storm. */
const MIN_INTERVAL_MS = 1000;

export = function register(RED: NodeAPI): void {
  function AliyunIotTime(this: Node, def: TimeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = linkDevice(RED, node, def.device);
    const client = link.ok ? ntpClientOf(link.connection) : undefined;
    const release = client?.attach();
    const timeoutMs = millisecondsOf(def.timeout, DEFAULT_TIMEOUT_S);

    node.on('input', (msg, send, done) => {
      if (!link.ok || !client) return done(link.ok ? undefined : link.error);
      client.request(timeoutMs).then(
        (result) => {
          send({ ...msg, payload: result });
          done();
        },
        (err: unknown) => done(localizedError(RED, err)),
      );
    });

    // Periodic sync: only while connected, so an offline device does not pile up requests.
    const minutes = Number(def.interval);
    const timer =
      client && link.ok && Number.isFinite(minutes) && minutes > 0
        ? setInterval(
            () => {
              if (link.connection.state !== 'connected') return;
              client.request(timeoutMs).then(
                (result) => node.send({ payload: result }),
                (err: unknown) => node.error(localizedError(RED, err).message),
              );
            },
            Math.max(MIN_INTERVAL_MS, minutes * 60_000),
          )
        : undefined;

    node.on('close', (done: () => void) => {
      clearInterval(timer);
      release?.();
      link.close();
      done();
    });
  }

  RED.nodes.registerType('aliyun-iot-time', AliyunIotTime);
};
