/**
 * `hs-troponin-cds report --from <day> --to <day> [--granularity week|month] [--pathway <id>]
 * [--format json|csv|measure-report] [--settings <file>]`: the adoption report, read straight from the
 * configured audit store (settings as `npm start` reads them: HS_TROPONIN_CDS_SETTINGS, or --settings),
 * for a nightly job. Read-only: it opens the store read-only, uses the service's roll-up where there is
 * one and adds, in memory, what was appended since. Exit 0 with the report on stdout; 2 with a message
 * on a bad argument or settings; 1 when the store cannot be read.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { toMeasureReport } from './adoption/measure-report.js';
import { parseReportQuery } from './adoption/query.js';
import { AdoptionReports, openAdoptionBackend } from './adoption/service.js';
import { toCsv, toJson } from './adoption/views.js';
import { isTnpError, TnpError } from './errors.js';
import { loadSettings } from './settings.js';
import type { CliIo } from './cli.js';

export const REPORT_HELP = `hs-troponin-cds report: the adoption report from the configured audit store (read-only)

Usage:
  hs-troponin-cds report --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--granularity week|month]
                         [--pathway <id>] [--format json|csv|measure-report] [--settings <file>]

Options:
  --from, --to      The days to cover (UTC, inclusive); whole weeks or months are reported.
  --granularity     week (ISO weeks, from Monday) or month (default).
  --pathway         Only this pathway (default: every pathway in the trail).
  --format          json (default), csv, or measure-report (a FHIR R4 MeasureReport).
  --settings <file> Site settings (default: the file named by HS_TROPONIN_CDS_SETTINGS); its storage is read.
  -h, --help        This text.

No patient identifier is printed; counts under 5 are suppressed (docs/adoption.md).
Exit status: 0 with the report; 2 on a bad argument or settings; 1 when the store cannot be read.
`;

export async function runReportCli(argv: readonly string[], io: CliIo): Promise<number> {
  let values;
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: { from: { type: 'string' }, to: { type: 'string' }, granularity: { type: 'string' }, pathway: { type: 'string' }, format: { type: 'string' }, settings: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    values = parsed.values;
  } catch (e) {
    io.err(`hs-troponin-cds report: ${(e as Error).message}\n\n${REPORT_HELP}`);
    return 2;
  }
  if (values.help === true) {
    io.out(REPORT_HELP);
    return 0;
  }
  let reports: AdoptionReports | undefined;
  try {
    const { query, format } = parseReportQuery(
      Object.fromEntries(Object.entries({ from: values.from, to: values.to, granularity: values.granularity, pathway: values.pathway, format: values.format }).filter(([, v]) => v !== undefined)),
    );
    const settings = loadSettings(values.settings !== undefined ? { file: values.settings } : { env: io.env });
    if (settings.storage.kind === 'sqlite' && !existsSync(resolve(settings.storage.path))) {
      const where = values.settings !== undefined ? `--settings ${values.settings}` : io.env['HS_TROPONIN_CDS_SETTINGS'] !== undefined ? `HS_TROPONIN_CDS_SETTINGS (${io.env['HS_TROPONIN_CDS_SETTINGS']})` : 'the default settings (no --settings, no HS_TROPONIN_CDS_SETTINGS)';
      throw new TnpError('TNP_ERR_REPORT_STORE_MISSING', `the audit store file ${resolve(settings.storage.path)} does not exist (storage.path "${settings.storage.path}" of ${where})`);
    }
    const backend = await openAdoptionBackend(settings.storage, { readOnly: true });
    reports = new AdoptionReports(backend, { now: () => new Date(io.nowMs()), lateRetestMinutes: settings.adoptionLateRetestMinutes });
    const model = await reports.report(query);
    const text = format === 'csv' ? toCsv(model) : `${JSON.stringify(format === 'json' ? toJson(model) : toMeasureReport(model), null, 2)}\n`;
    io.out(text);
    return 0;
  } catch (e) {
    if (isTnpError(e)) {
      io.err(`hs-troponin-cds report: ${e.message}\nHow to fix: ${e.fix} [${e.code}]\n`);
      return e.status < 500 || e.code === 'TNP_ERR_SETTINGS_INVALID' || e.code === 'TNP_ERR_SETTINGS_UNREADABLE' ? 2 : 1;
    }
    io.err(`hs-troponin-cds report: the audit store cannot be read: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await reports?.close().catch(() => undefined);
  }
}
