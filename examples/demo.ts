// `npm start`: the demo services plus edgegate on examples/gateway.json, all on loopback.
import { fileURLToPath } from 'node:url';
import { readJsonFile } from '../adapters/node/config-file.ts';
import { nodeGateway } from '../adapters/node/gateway.ts';
import { serveNode } from '../adapters/node/serve.ts';
import { startServices } from './services.ts';

const configPath = fileURLToPath(new URL('./gateway.json', import.meta.url));
const services = await startServices();
const gateway = await nodeGateway((await readJsonFile(configPath)) as never);
const server = await serveNode(gateway, { port: Number(process.env.PORT ?? 8080), hostname: '127.0.0.1' });
process.stderr.write(
  `demo services: user on 3001-3004 (weights 10/2/2/4), orders on 3101\nedgegate listening on ${server.url} (config ${configPath})\n`,
);

const stop = async () => {
  await server.close(5_000);
  await gateway.close();
  await services.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
