// The edgegate command line: serve, check, keygen, redis-rest.
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { readJsonFile } from './config-file.ts';
import { nodeGateway } from './gateway.ts';
import { serveNode } from './serve.ts';

const HELP = `edgegate — an edge API gateway

Usage:
  edgegate serve --config FILE [--port N] [--host H] [--no-access-log]
      Serve the gateway. PORT in the environment is honoured (default 8080).
  edgegate check --config FILE
      Validate a config: exit 0, or print every problem with its path and exit 2.
  edgegate keygen [--alg ES256|RS256|PS256|EdDSA]
      Print a fresh signing key pair (PEM and JWK) for session.keys.
  edgegate redis-rest --redis URL --token T [--port N] [--host H]
      Serve the Upstash REST protocol over your own Redis (for Workers and Deno builds).
  edgegate --help

Exit codes: 0 ok, 1 runtime failure, 2 invalid config or usage.
`;

type Options = Record<string, string | boolean | undefined>;

function parse(argv: string[]): { command: string | undefined; options: Options } | undefined {
  try {
    const { positionals, values } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'no-access-log': { type: 'boolean' },
        alg: { type: 'string' },
        kid: { type: 'string' },
        redis: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    return { command: values.help ? 'help' : positionals[0], options: values };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return undefined;
  }
}

function port(options: Options, fallback: number): number {
  const raw = (options.port as string | undefined) ?? process.env.PORT;
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError([`port: expected 0-65535, received ${JSON.stringify(raw)}`]);
  return n;
}

async function loadConfig(options: Options): Promise<unknown> {
  if (typeof options.config !== 'string') throw new ConfigError(['--config: expected a config file path']);
  return readJsonFile(options.config);
}

async function serve(options: Options): Promise<number> {
  const doc = await loadConfig(options);
  const gateway = await nodeGateway(doc as never, { accessLog: options['no-access-log'] !== true });
  const server = await serveNode(gateway, { port: port(options, 8080), hostname: options.host as string | undefined });
  process.stderr.write(`edgegate listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = async (signal: string) => {
      process.stderr.write(`edgegate: ${signal}, finishing in-flight requests\n`);
      await server.close(10_000);
      await gateway.close();
      resolve();
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
  return 0;
}

async function check(options: Options): Promise<number> {
  const doc = await loadConfig(options);
  // Building the gateway compiles rules, keys and tables, which finds problems the schema cannot.
  const { createGateway } = await import('../../src/gateway.ts');
  const gateway = createGateway(parseConfig(doc));
  try {
    await gateway.ready;
  } finally {
    await gateway.close();
  }
  process.stdout.write(`${options.config}: ok (${gateway.config.routes.length} routes, ${Object.keys(gateway.config.upstreams).length} upstreams)\n`);
  return 0;
}

async function redisRest(options: Options): Promise<number> {
  if (typeof options.redis !== 'string' || typeof options.token !== 'string') {
    process.stderr.write(`redis-rest needs --redis URL and --token T\n\n${HELP}`);
    return 2;
  }
  const { startRedisRest } = await import('./redis-rest.ts');
  const bridge = await startRedisRest({ redis: options.redis, token: options.token, port: port(options, 8079), host: options.host as string | undefined });
  process.stderr.write(`edgegate redis-rest listening on ${bridge.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => void bridge.close().then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (parsed === undefined) return 2;
  const { command, options } = parsed;
  try {
    switch (command) {
      case 'serve':
        return await serve(options);
      case 'check':
        return await check(options);
      case 'keygen': {
        const { runKeygen } = await import('./keygen.ts');
        return await runKeygen(argv.slice(1));
      }
      case 'redis-rest':
        return await redisRest(options);
      case 'help':
      case undefined:
        process.stdout.write(HELP);
        return command === 'help' ? 0 : 2;
      default:
        process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
