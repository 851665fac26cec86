// The Deno adapter: `deno run --allow-net --allow-read --allow-env adapters/deno/main.ts --config FILE
// [--port N] [--host H] [--no-access-log]` on Deno.serve, memory or Upstash store, graceful shutdown.

import { buildGateway } from '../../src/config/env.ts';
import { ConfigError } from '../../src/config/load.ts';
import { errorResponse, GatewayError } from '../../src/errors.ts';

const USAGE =
  'usage: deno run --allow-net --allow-read --allow-env adapters/deno/main.ts --config FILE [--port N] [--host H] [--no-access-log]';

interface Options {
  config: string;
  port: number;
  host: string;
  accessLog: boolean;
}

function parseArgs(args: string[], env: Record<string, string>): Options {
  const problems: string[] = [];
  const take = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) problems.push(`${flag}: expected a value`);
    return v ?? '';
  };
  let config: string | undefined;
  let rawPort = env.PORT;
  let host = '0.0.0.0';
  let accessLog = true;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = (): string => (inline !== undefined ? inline : take(i++, flag));
    if (flag === '--config' || flag === '-c') config = value();
    else if (flag === '--port' || flag === '-p') rawPort = value();
    else if (flag === '--host') host = value();
    else if (flag === '--no-access-log') accessLog = false;
    else problems.push(`${args[i]}: unknown argument`);
  }
  if (config === undefined || config === '') problems.push('--config: expected a config file path');
  const port = rawPort === undefined ? 8080 : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`port: expected 0-65535, received ${JSON.stringify(rawPort)}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config as string, port, host, accessLog };
}

async function readConfig(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError([`${path}: cannot be read (${(err as Error).name})`]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${path}: is not valid JSON (${(err as Error).message})`]);
  }
}

const write = (line: string) => console.error(line);

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  let options: Options;
  let gateway: Awaited<ReturnType<typeof buildGateway>>;
  try {
    options = parseArgs(Deno.args, env);
    gateway = await buildGateway(await readConfig(options.config), env, {
      // The handler's info is passed as the gateway's `env`; a TCP listener's remoteAddr has the hostname.
      clientIp: (_request, info) => (info as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname,
      accessLog: options.accessLog ? (entry) => console.log(JSON.stringify(entry)) : undefined,
      logError: (message, error) => write(JSON.stringify({ level: 'error', message, error: String(error) })),
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    write(`edgegate: ${err.message}\n${USAGE}`);
    return 2;
  }

  const server = Deno.serve(
    {
      port: options.port,
      hostname: options.host,
      onListen: ({ hostname, port }) => {
        const shown = hostname === '0.0.0.0' ? '127.0.0.1' : hostname.includes(':') ? `[${hostname}]` : hostname;
        write(`edgegate listening on http://${shown}:${port}`);
      },
      // Only reached if the gateway itself throws, which its onError is there to prevent.
      onError: () => errorResponse(new GatewayError('internal')),
    },
    (request, info) => gateway.fetch(request, info),
  );

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      write(`edgegate: ${signal}, finishing in-flight requests`);
      // shutdown() stops accepting and waits for in-flight requests; bound the wait like the Node adapter.
      const force = setTimeout(() => Deno.exit(1), 10_000);
      void server
        .shutdown()
        .then(() => gateway.close())
        .finally(() => {
          clearTimeout(force);
          resolve();
        });
    };
    Deno.addSignalListener('SIGINT', () => stop('SIGINT'));
    Deno.addSignalListener('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

Deno.exit(await main());
