#!/usr/bin/env node
// The `mopro` bin: runs the TypeScript CLI through tsx's loader (a runtime dependency), so the
// same sources serve the CLI, the tests and the app build.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src-main/cli.ts');
await main(process.argv);
