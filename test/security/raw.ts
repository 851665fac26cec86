// Raw HTTP/1.1 over node:net, for requests that fetch and node:http refuse to send.
import net from 'node:net';

/** Sends raw bytes and collects what comes back until the server closes or `waitMs` passes. */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (d) => {
      out += d.toString('latin1');
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(bytes);
  });
}

export interface RawConnection {
  socket: net.Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** The status line of the first response, once it has arrived. */
  status(): string;
  /** Resolves with the ms since connect when the server closes (or resets) the connection. */
  closed: Promise<number>;
  /** Resolves once `text` has been received (or rejects after `ms`). */
  waitFor(text: string, ms?: number): Promise<number>;
  write(bytes: string | Buffer): boolean;
  destroy(): void;
}

/** An open connection for step-by-step exchanges (slow senders, half-sent bodies). */
export function openRaw(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    let started = 0;
    const waiters: (() => void)[] = [];
    socket.on('data', (d) => {
      out += d.toString('latin1');
      for (const w of waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    const closed = new Promise<number>((r) => socket.once('close', () => r(performance.now() - started)));
    socket.once('error', reject);
    socket.once('connect', () => {
      started = performance.now();
      socket.off('error', reject);
      resolve({
        socket,
        received: () => out,
        status: () => out.split('\r\n')[0],
        closed,
        waitFor(text, ms = 5_000) {
          return new Promise((ok, fail) => {
            const timer = setTimeout(
              () => fail(new Error(`no ${JSON.stringify(text)} within ${ms} ms; got ${JSON.stringify(out.slice(0, 300))}`)),
              ms,
            );
            const check = () => {
              if (out.includes(text)) {
                clearTimeout(timer);
                ok(performance.now() - started);
              } else if (socket.destroyed) {
                clearTimeout(timer);
                fail(new Error(`closed without ${JSON.stringify(text)}; got ${JSON.stringify(out.slice(0, 300))}`));
              } else waiters.push(check);
            };
            socket.once('close', check);
            check();
          });
        },
        write: (bytes) => (socket.writable ? socket.write(bytes) : false),
        destroy: () => socket.destroy(),
      });
    });
  });
}
