// The edgegate command line: serve, check, keygen, redis-rest.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SEED_FILES, type SeedFiles, type SeedTranslation, translateSeed } from '../../src/compat/seed.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { readJsonFile } from './config-file.ts';
import { nodeGateway } from './gateway.ts';
import { serveNode } from './serve.ts';

const HELP = `edgegate — an edge API gateway

Usage:
  edgegate serve --config FILE [--port N] [--host H] [--no-access-log] [--seed-status=200]
      Serve the gateway. PORT in the environment is honoured (default 8080).
  edgegate serve --seed-config DIR [--seed-status=200] [...]
      Serve the original gateway's files unchanged: DIR/system-config.json, DIR/api-rules.json,
      DIR/private.pem, DIR/public.pem and optionally DIR/regex.json. --seed-status=200 answers
      every request with status 200, as the original did (default: semantic statuses).
  edgegate check --config FILE
      Validate a config: exit 0, or print every problem with its path and exit 2.
  edgegate check --seed-config DIR [--seed-status=200] [--redact]
      Validate the original's files and print the equivalent native config on stdout (it holds
      private.pem and the Redis password unless --redact).
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
        'seed-config': { type: 'string' },
        'seed-status': { type: 'string' },
        redact: { type: 'boolean' },
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

/** `--seed-status=200` → "always-200"; "semantic" → "semantic"; absent → undefined (the config decides). */
function errorStatus(options: Options): 'semantic' | 'always-200' | undefined {
  const raw = options['seed-status'];
  if (raw === undefined) return undefined;
  if (raw === '200' || raw === 'always-200') return 'always-200';
  if (raw === 'semantic') return 'semantic';
  throw new ConfigError([`--seed-status: expected 200 or semantic, received ${JSON.stringify(raw)}`]);
}

/** Reads the original gateway's files from DIR; every unreadable file is one problem. */
async function readSeedDir(dir: string): Promise<SeedFiles> {
  const problems: string[] = [];
  const text = async (name: string, optional: boolean): Promise<string | undefined> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (!(optional && code === 'ENOENT')) problems.push(`${join(dir, name)}: cannot be read (${code})`);
      return undefined;
    }
  };
  const json = async (name: string, optional: boolean): Promise<unknown> => {
    const t = await text(name, optional);
    if (t === undefined) return undefined;
    try {
      return JSON.parse(t);
    } catch (err) {
      problems.push(`${join(dir, name)}: is not valid JSON (${(err as Error).message})`);
      return undefined;
    }
  };
  const files: SeedFiles = {
    systemConfig: await json(SEED_FILES.system, false),
    apiRules: await json(SEED_FILES.rules, false),
    regex: await json(SEED_FILES.regex, true),
    // The keys are needed only by rules with "credential": true; translateSeed says so when they are.
    privateKey: await text(SEED_FILES.privateKey, true),
    publicKey: await text(SEED_FILES.publicKey, true),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return files;
}

/** The native config to run: from --config, or translated from --seed-config (warnings on stderr). */
async function loadConfig(options: Options): Promise<{ doc: unknown; seed?: SeedTranslation }> {
  const status = errorStatus(options);
  if (typeof options['seed-config'] === 'string') {
    if (options.config !== undefined) throw new ConfigError(['--config and --seed-config: give one of them']);
    const seed = translateSeed(await readSeedDir(options['seed-config']), { errorStatus: status });
    for (const w of seed.warnings) process.stderr.write(`warning: ${w}\n`);
    return { doc: seed.config, seed };
  }
  if (typeof options.config !== 'string') throw new ConfigError(['--config: expected a config file path (or --seed-config DIR)']);
  const doc = await readJsonFile(options.config);
  if (status !== undefined && doc !== null && typeof doc === 'object') {
    const d = doc as { server?: Record<string, unknown> };
    d.server = { ...d.server, errorStatus: status };
  }
  return { doc };
}

/** Problems found while building a translated config, named by the seed file they came from. */
async function inSeedTerms<T>(seed: SeedTranslation | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (seed !== undefined && err instanceof ConfigError) throw new ConfigError(err.problems.map(seed.locate));
    throw err;
  }
}

async function serve(options: Options): Promise<number> {
  const { doc, seed } = await loadConfig(options);
  const gateway = await inSeedTerms(seed, () => nodeGateway(doc as never, { accessLog: options['no-access-log'] !== true }));
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
  const { doc, seed } = await loadConfig(options);
  // Building the gateway compiles rules, keys and tables, which finds problems the schema cannot.
  const { createGateway } = await import('../../src/gateway.ts');
  const gateway = await inSeedTerms(seed, async () => {
    const g = createGateway(parseConfig(doc));
    try {
      await g.ready;
    } finally {
      await g.close();
    }
    return g;
  });
  if (seed !== undefined) {
    // The equivalent native config, for teams that switch: `edgegate check --seed-config DIR > edgegate.json`.
    process.stdout.write(`${JSON.stringify(options.redact === true ? redacted(doc) : doc, null, 2)}\n`);
    const secrets = options.redact === true ? 'secrets redacted' : 'it holds private.pem and the Redis password: keep it secret';
    process.stderr.write(
      `${options['seed-config']}: ok (${gateway.config.routes.length} routes, ${Object.keys(gateway.config.upstreams).length} upstreams); native config on stdout (${secrets})\n`,
    );
    return 0;
  }
  process.stdout.write(
    `${options.config}: ok (${gateway.config.routes.length} routes, ${Object.keys(gateway.config.upstreams).length} upstreams)\n`,
  );
  return 0;
}

/** The printed config without key material or the Redis password. */
function redacted(doc: unknown): unknown {
  const copy = structuredClone(doc) as { store?: Record<string, unknown>; tokenSessions?: Record<string, unknown> };
  if (copy.store?.auth !== undefined) copy.store.auth = '<redacted: redis.auth>';
  if (copy.tokenSessions?.privateKey !== undefined) copy.tokenSessions.privateKey = `<redacted: ${SEED_FILES.privateKey}>`;
  return copy;
}

async function redisRest(options: Options): Promise<number> {
  if (typeof options.redis !== 'string' || typeof options.token !== 'string') {
    process.stderr.write(`redis-rest needs --redis URL and --token T\n\n${HELP}`);
    return 2;
  }
  const { startRedisRest } = await import('./redis-rest.ts');
  const bridge = await startRedisRest({
    redis: options.redis,
    token: options.token,
    port: port(options, 8079),
    host: options.host as string | undefined,
  });
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
