// The few Deno globals the adapter uses, so that `tsc -p adapters/deno` checks it without Deno's type
// package. Not referenced from main.ts: `deno check adapters/deno/main.ts` uses Deno's real declarations.
declare namespace Deno {
  const args: string[];
  const env: { get(name: string): string | undefined; toObject(): Record<string, string> };
  function readTextFile(path: string): Promise<string>;
  function exit(code?: number): never;
  function addSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  interface NetAddr {
    transport: 'tcp' | 'udp';
    hostname: string;
    port: number;
  }
  interface ServeHandlerInfo {
    remoteAddr: NetAddr;
  }
  interface HttpServer {
    readonly finished: Promise<void>;
    shutdown(): Promise<void>;
  }
  function serve(
    options: {
      port?: number;
      hostname?: string;
      signal?: AbortSignal;
      onListen?: (addr: NetAddr) => void;
      onError?: (error: unknown) => Response | Promise<Response>;
    },
    handler: (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>,
  ): HttpServer;
}
