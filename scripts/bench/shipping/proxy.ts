// A loopback TCP proxy that counts, per client connection, what crosses it: round trips (a server
// reply that follows client data: one direction turn), statements (simple-protocol Query and
// extended-protocol Sync messages from the client, so one per query either way) and bytes.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Traffic {
  roundTrips: number;
  statements: number;
  bytesUp: number;
  bytesDown: number;
}

/** Counts Query ('Q') and Sync ('S') messages in the client's stream; the first message has no type byte. */
function statementCounter(traffic: Traffic): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  let untyped = true;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const header = untyped ? 4 : 5;
      if (pending.length < header) return;
      const length = pending.readInt32BE(header - 4) + header - 4;
      if (pending.length < length) return;
      // SSLRequest and GSSENCRequest are followed by the real, also untyped, startup message.
      const code = untyped ? pending.readInt32BE(4) : 0;
      untyped = untyped && (code === 80877103 || code === 80877104);
      if (header === 5 && (pending[0] === 0x51 || pending[0] === 0x53)) traffic.statements += 1;
      pending = pending.subarray(length);
    }
  };
}

export class CountingProxy {
  private connections: Traffic[] = [];
  private open = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `host:port`. */
  static start(host: string, port: number): Promise<CountingProxy> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const proxy = new CountingProxy(server, (server.address() as { port: number }).port);
        server.on('connection', (client) => proxy.forward(client, connect(port, host)));
        resolve(proxy);
      });
    });
  }

  private forward(client: Socket, upstream: Socket): void {
    const traffic: Traffic = { roundTrips: 0, statements: 0, bytesUp: 0, bytesDown: 0 };
    this.connections.push(traffic);
    this.open += 1;
    const count = statementCounter(traffic);
    let last: 'up' | 'down' | undefined;
    client.on('data', (chunk: Buffer) => {
      last = 'up';
      traffic.bytesUp += chunk.length;
      count(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (last === 'up') traffic.roundTrips += 1;
      last = 'down';
      traffic.bytesDown += chunk.length;
      client.write(chunk);
    });
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('error', () => to.destroy());
      from.on('end', () => to.end());
    }
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 2) this.open -= 1;
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
  }

  /** Waits (at most 3 s) until no connection is open, then hands over and forgets what was counted. */
  async take(): Promise<Traffic[]> {
    for (let waited = 0; this.open > 0 && waited < 3000; waited += 10) await sleep(10);
    const taken = this.connections;
    this.connections = [];
    return taken;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
