/**
 * The product's one error type and the one place an error becomes an answer: a stable code of the
 * registry (src/error-registry.ts, its data) carried by {@link TnpError}, turned into a FHIR
 * OperationOutcome with its HTTP status by {@link toOperationOutcome}. `docs/errors.md` lists the same
 * codes (tests/unit/errors.test.ts fails when the two drift).
 */
import { ERRORS, type ErrorCode } from './error-registry.js';

export { ERRORS, type ErrorCode, type ErrorDefinition } from './error-registry.js';

/** The product's only error type: a stable code, a message that says what is wrong, optional details. */
export class TnpError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly string[];
  /** FHIRPath-like locations of the problem, for OperationOutcome.issue.expression. */
  readonly expression: readonly string[];

  constructor(code: ErrorCode, message?: string, opts: { details?: readonly string[]; expression?: readonly string[]; cause?: unknown } = {}) {
    const def = ERRORS[code];
    super(message ?? def.title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TnpError';
    this.code = code;
    this.status = def.status;
    this.details = opts.details ?? [];
    this.expression = opts.expression ?? [];
  }

  get fix(): string {
    return ERRORS[this.code].fix;
  }
}

export function isTnpError(e: unknown): e is TnpError {
  return e instanceof TnpError;
}

export interface OperationOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: string;
  details?: { coding?: { system: string; code: string }[]; text: string };
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

export const ERROR_CODE_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/error';

/** The one place an error becomes a FHIR OperationOutcome. */
export function toOperationOutcome(e: TnpError): OperationOutcome {
  const def = ERRORS[e.code];
  const issues: OperationOutcomeIssue[] = [
    {
      severity: 'error',
      code: def.issueCode,
      details: { coding: [{ system: ERROR_CODE_SYSTEM, code: e.code }], text: e.message },
      diagnostics: `How to fix: ${def.fix}`,
      ...(e.expression.length > 0 ? { expression: [...e.expression] } : {}),
    },
  ];
  for (const d of e.details) issues.push({ severity: 'error', code: def.issueCode, diagnostics: d });
  return { resourceType: 'OperationOutcome', issue: issues };
}
