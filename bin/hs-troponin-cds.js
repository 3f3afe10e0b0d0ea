#!/usr/bin/env node
// Entry point of the command line; the code is compiled to dist/ by `npm ci` (the prepare script).
import { runCli } from '../dist/cli.js';

const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  nowMs: () => Date.now(),
});
process.exitCode = code;
