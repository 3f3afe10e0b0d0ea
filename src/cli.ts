/**
 * The command line: `hs-troponin-cds evaluate <file> [--now <ISO time>] [--encounter <id>]
 * [--settings <file>] [--pathway <id>]`. Prints one JSON decision. Exit 0 with a decision (even when
 * some resources are unusable: they are listed), 2 with a message when the input or an argument is
 * wrong, 1 on anything else. Also `report` (src/cli-report.ts), and the one-minute try-it path: `dev`
 * (the service with the local development client, src/dev/dev-command.ts) and `call` (a real CDS call
 * to it, src/dev/call-command.ts).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TnpError, isTnpError } from './errors.js';
import { loadSettings } from './settings.js';
import { loadRuntime } from './pathways/load.js';
import { decide } from './decide.js';
import { instantFromEpochMs } from './engine/time.js';
import { runReportCli } from './cli-report.js';
import { runDevCli } from './cli-dev.js';

const HELP = `hs-troponin-cds: the Chart 2 high-sensitivity troponin pathway

Usage:
  hs-troponin-cds evaluate <file> [--now <ISO time>] [--encounter <id>] [--settings <file>] [--pathway <id>]
  hs-troponin-cds report --from <day> --to <day> [--granularity week|month] [--pathway <id>] [--format json|csv|measure-report] [--settings <file>]
  hs-troponin-cds dev
  hs-troponin-cds call <file> [--now <ISO time>] [--encounter <id>]
  hs-troponin-cds --help

evaluate   Reads a FHIR R4 Bundle, a resource, or a JSON array of resources (Observations for
           troponin, ECG and TIMI; the Patient for sex-specific URLs) and prints the decision as JSON:
           outcome, missing, retestDue, reasons, trace, pathway, and more.

dev        Starts the service as \`npm start\` does (HOST, PORT, HS_TROPONIN_CDS_SETTINGS), in one
           process, trusting a local development client (its key is made in the data directory) for
           calls from this machine only.
call       Makes a real CDS Hooks call to the service \`dev\` runs (found by HOST and PORT): signs the
           token with the local key, reads discovery, fills its prefetch from the file's resources
           and prints the card. Evaluated at --now, else at the "now" of the fixture's .expected.json.

Options:
  --now <time>        The evaluation time, ISO 8601 with a time zone (default: the current time).
  --encounter <id>    Only observations of this encounter, or naming none, count (rule 3).
  --settings <file>   Site settings (the same file as HS_TROPONIN_CDS_SETTINGS; only the settings
                      that bear on decisions matter here).
  --pathway <id>      The pathway to run (default: the settings' pathway, "chart2").
  -h, --help          This text.

Exit status: 0 with a decision; 2 when the file is not JSON, not FHIR, empty, or an argument is wrong;
1 on an unexpected failure.
`;

export interface CliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly nowMs: () => number;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === 'report') return runReportCli(argv.slice(1), io);
  if (argv[0] === 'dev' || argv[0] === 'call') return runDevCli(argv, io);
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        now: { type: 'string' },
        encounter: { type: 'string' },
        settings: { type: 'string' },
        pathway: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`hs-troponin-cds: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true || positionals.length === 0) {
    (values.help === true ? io.out : io.err)(HELP);
    return values.help === true ? 0 : 2;
  }
  const [command, file, ...extra] = positionals;
  if (command !== 'evaluate') {
    io.err(`hs-troponin-cds: unknown command "${command ?? ''}"\n\n${HELP}`);
    return 2;
  }
  if (file === undefined || extra.length > 0) {
    io.err(`hs-troponin-cds: evaluate takes exactly one file\n\n${HELP}`);
    return 2;
  }
  try {
    const settings = loadSettings(values.settings !== undefined ? { file: values.settings } : { env: {} });
    const rt = await loadRuntime({ ...settings, pathway: values.pathway ?? settings.pathway });
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new TnpError('TNP_ERR_BAD_ARGUMENT', `cannot read ${file}: ${(cause as Error).message}`, { cause });
    }
    if (text.trim() === '') throw new TnpError('TNP_ERR_INPUT_EMPTY', `${file} is empty`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (cause) {
      throw new TnpError('TNP_ERR_INPUT_NOT_JSON', `${file} is not JSON: ${(cause as Error).message}`, { cause });
    }
    const decision = await decide(rt, doc, {
      now: values.now ?? instantFromEpochMs(io.nowMs()),
      encounterId: values.encounter ?? null,
    });
    io.out(`${JSON.stringify(decision, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (isTnpError(e)) {
      io.err(`hs-troponin-cds: ${e.message}\nHow to fix: ${e.fix} [${e.code}]\n`);
      return e.status >= 500 && e.code !== 'TNP_ERR_SETTINGS_INVALID' && e.code !== 'TNP_ERR_SETTINGS_UNREADABLE' ? 1 : 2;
    }
    io.err(`hs-troponin-cds: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
