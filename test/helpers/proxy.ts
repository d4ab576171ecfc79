// A TCP proxy for fault injection: forwards to a target, and on demand holds traffic without
// closing anything (a half-open link), or cuts every connection (a flapping link). Without a target
// it drops every connection (a broker that is down) on a port the test keeps, so a broker restarted
// elsewhere can be put behind the same address.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

interface Target {
  host: string;
  port: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes held while paused, per direction. */
  held: { up: Buffer[]; down: Buffer[] };
}

export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  private paused = false;
  /** Connections accepted since the start. */
  accepted = 0;

  private readonly server: Server;

  private constructor(private target: Target | undefined) {
    this.server = createServer({ noDelay: true }, (client) => this.accept(client));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  static async start(target?: Target): Promise<FaultProxy> {
    const proxy = new FaultProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** Connections from now on go to `target`; undefined: dropped. */
  retarget(target: Target | undefined): void {
    this.target = target;
  }

  private accept(client: Socket): void {
    this.accepted++;
    const target = this.target;
    if (!target) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: target.host, port: target.port, noDelay: true });
    const pair: Pair = { client, upstream, held: { up: [], down: [] } };
    this.pairs.add(pair);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => (this.paused ? pair.held.up.push(chunk) : upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => (this.paused ? pair.held.down.push(chunk) : client.write(chunk)));
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  /** Stops forwarding in both directions; every socket stays open. */
  pause(): void {
    this.paused = true;
  }

  /** Forwards again, held bytes first. */
  resume(): void {
    this.paused = false;
    for (const pair of this.pairs) {
      for (const chunk of pair.held.up.splice(0)) pair.upstream.write(chunk);
      for (const chunk of pair.held.down.splice(0)) pair.client.write(chunk);
    }
  }

  /** Drops every live connection at once (RST), as a lost link does. */
  cut(): void {
    for (const pair of [...this.pairs]) {
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
      this.pairs.delete(pair);
    }
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
