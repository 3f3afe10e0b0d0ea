/**
 * The report request, as the API and the command line both take it: `from`, `to` (days, UTC),
 * `granularity` (week | month), `pathway` and `format` (json | csv | measure-report). Checked once here;
 * a bad value is TNP_ERR_REPORT_QUERY_INVALID naming the parameter.
 */
import { TnpError } from '../errors.js';
import type { ReportQuery } from './report.js';

export type ReportFormat = 'json' | 'csv' | 'measure-report';
export const FORMATS: readonly ReportFormat[] = ['json', 'csv', 'measure-report'];

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const MAX_DAYS = 366 * 10;

function bad(message: string, param: string): TnpError {
  return new TnpError('TNP_ERR_REPORT_QUERY_INVALID', message, { expression: [param] });
}

function day(v: unknown, param: string): string {
  if (typeof v !== 'string' || v === '') throw bad(`${param} is required: a date, YYYY-MM-DD`, param);
  const m = DAY.exec(v);
  const t = Date.parse(`${v}T00:00:00Z`);
  if (m === null || !Number.isFinite(t) || new Date(t).toISOString().slice(0, 10) !== v) throw bad(`${param} must be a date, YYYY-MM-DD (got ${JSON.stringify(v.slice(0, 40))})`, param);
  return v;
}

function one(q: Readonly<Record<string, unknown>>, k: string): unknown {
  const v = q[k];
  if (Array.isArray(v)) throw bad(`${k} is given more than once`, k);
  return v;
}

const KNOWN = new Set(['from', 'to', 'granularity', 'pathway', 'format']);

/** Parses the parameters; `format` falls back to `defaultFormat` (from the Accept header, or json). */
export function parseReportQuery(q: Readonly<Record<string, unknown>>, defaultFormat: ReportFormat = 'json'): { query: ReportQuery; format: ReportFormat } {
  for (const k of Object.keys(q)) if (!KNOWN.has(k)) throw bad(`unknown parameter ${JSON.stringify(k.slice(0, 40))}: the report takes from, to, granularity, pathway and format`, k.slice(0, 40));
  const from = day(one(q, 'from'), 'from');
  const to = day(one(q, 'to'), 'to');
  if (from > to) throw bad('from is after to', 'from');
  if ((Date.parse(to) - Date.parse(from)) / 86_400_000 > MAX_DAYS) throw bad('the range is longer than 10 years', 'to');
  const g = one(q, 'granularity') ?? 'month';
  if (g !== 'week' && g !== 'month') throw bad('granularity must be week or month', 'granularity');
  const f = one(q, 'format') ?? defaultFormat;
  if (typeof f !== 'string' || !(FORMATS as readonly string[]).includes(f)) throw bad('format must be json, csv or measure-report', 'format');
  const p = one(q, 'pathway');
  if (p !== undefined && (typeof p !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(p))) throw bad('pathway must be a pathway id (lowercase letters, digits and hyphens)', 'pathway');
  return { query: { from, to, granularity: g, ...(p === undefined ? {} : { pathwayId: p }) }, format: f as ReportFormat };
}

/** The format an Accept header asks for, when `format` is not given. */
export function formatFromAccept(accept: string | undefined): ReportFormat {
  const a = (accept ?? '').toLowerCase();
  if (a.includes('text/csv')) return 'csv';
  if (a.includes('application/fhir+json')) return 'measure-report';
  return 'json';
}
