/**
 * A defect of the pathway itself found during an evaluation (a walk with no branch or several, a
 * classification cell without an entry). Load-time validation makes it unreachable for a valid file;
 * the caller (src/decide.ts) turns it into TNP_ERR_PATHWAY_NOT_TOTAL. The engine imports nothing
 * outside src/engine, so it has its own error class.
 */
export class PathwayDefect extends Error {
  readonly code = 'TNP_ERR_PATHWAY_NOT_TOTAL';

  constructor(message: string) {
    super(message);
    this.name = 'PathwayDefect';
  }
}
