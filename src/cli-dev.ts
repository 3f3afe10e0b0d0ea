/**
 * The one-minute try-it path of the command line: `hs-troponin-cds dev` (src/dev/dev-command.ts) and
 * `hs-troponin-cds call <file> [--now <ISO time>] [--encounter <id>]` (src/dev/call-command.ts).
 * `dev` runs until stopped (Ctrl-C, SIGTERM); a failed start exits 1 with why, as `npm start` does.
 * `call` exits 0 with the cards, 2 when an argument or the file is wrong, 1 when the service cannot be
 * reached or does not answer 200.
 */
import { parseArgs } from 'node:util';
import { isTnpError } from './errors.js';
import type { CliIo } from './cli.js';

export const DEV_HELP = `hs-troponin-cds dev | call: try the CDS service in a minute

Usage:
  hs-troponin-cds dev
  hs-troponin-cds call <file> [--now <ISO time>] [--encounter <id>]

dev    Starts the service as \`npm start\` does (HOST, PORT, HS_TROPONIN_CDS_SETTINGS), in one process,
       trusting the local development client for calls from this machine only. Its key is made once,
       dev-client-key.json in the data directory (dataDir, default ./data).
call   A real CDS Hooks patient-view call to that service, found by the same HOST and PORT: a JWT
       signed with the local key, the discovery document read, its prefetch filled from the file (a
       FHIR Bundle, an array of resources or a resource), and the card printed with its audit id.

Options of call:
  --now <time>       The evaluation time, ISO 8601 with a zone (default: the "now" of the fixture's
                     .expected.json beside the file, else when the service receives the call).
  --encounter <id>   The encounter of the call's context (default: the fixture's "encounter").

Exit status of call: 0 with the cards; 2 when an argument or the file is wrong; 1 when the service
cannot be reached or does not answer 200.
`;

export async function runDevCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { now: { type: 'string' }, encounter: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    io.err(`hs-troponin-cds: ${(e as Error).message}\n\n${DEV_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, file, ...extra] = positionals;
  if (values.help === true) {
    io.out(DEV_HELP);
    return 0;
  }
  if (command === 'dev') {
    if (positionals.length > 1 || values.now !== undefined || values.encounter !== undefined) {
      io.err(`hs-troponin-cds: dev takes no argument (HOST, PORT and HS_TROPONIN_CDS_SETTINGS come from the environment)\n\n${DEV_HELP}`);
      return 2;
    }
    const { runDev } = await import('./dev/dev-command.js');
    await runDev(io.env);
    return 0;
  }
  if (file === undefined || extra.length > 0) {
    io.err(`hs-troponin-cds: call takes exactly one file\n\n${DEV_HELP}`);
    return 2;
  }
  const { runCall, CallFailed } = await import('./dev/call-command.js');
  try {
    await runCall({ file, ...(values.now === undefined ? {} : { now: values.now }), ...(values.encounter === undefined ? {} : { encounter: values.encounter }) }, io);
    return 0;
  } catch (e) {
    if (e instanceof CallFailed) {
      io.err(`hs-troponin-cds call: ${e.message}\n`);
      return 1;
    }
    if (isTnpError(e)) {
      io.err(`hs-troponin-cds call: ${e.message}\nHow to fix: ${e.fix} [${e.code}]\n`);
      return e.code === 'TNP_ERR_DEV_CLIENT_KEY' ? 1 : 2;
    }
    io.err(`hs-troponin-cds call: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
