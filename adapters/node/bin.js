#!/usr/bin/env node
// The `edgegate` command. Node 20 cannot run TypeScript itself, so tsx compiles the sources once at load.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
