/**
 * Sums the self time of CPU profiles (`node --cpu-prof`) by module: `npx tsx bench/profile-summary.ts <dir
 * or .cpuprofile files>`. A module is a folder of this project's src/ (src/audit, src/cds, ...), a package
 * of node_modules, a part of Node's own library (node:crypto...), or one of V8's entries (garbage collector,
 * program: native code such as SQLite and the fsync, idle). Prints the share of the busy (non-idle) time
 * and the time per call when `--calls N` gives the number of calls the profiled processes answered.
 * `--functions` sums by function (name, file and line) instead of by module.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function moduleOf(n: ProfileNode): string {
  const { url, functionName } = n.callFrame;
  if (url === '') return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm !== null) return nm[1] ?? url;
  const srcDir = /\/src\/([^/]+)\//.exec(url);
  if (srcDir !== null) return `src/${srcDir[1] ?? ''}`;
  const srcFile = /\/src\/([^/]+)$/.exec(url);
  if (srcFile !== null) return `src/${srcFile[1] ?? ''}`;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?([^/]+).*$/, 'node:$2');
  return url;
}

/** A function for `--functions`: its name, and the file (under src/, bench/ or a package) and line. */
function functionOf(n: ProfileNode & { readonly callFrame: { readonly lineNumber?: number } }): string {
  const { url, functionName, lineNumber } = n.callFrame;
  if (url === '') return moduleOf(n);
  const file = url.replace(/^.*?\/((?:src|bench)\/|node_modules\/)/, '$1');
  return `${functionName === '' ? '(anonymous)' : functionName} ${file}:${(lineNumber ?? 0) + 1}`;
}

const args = process.argv.slice(2);
const byFunction = args.includes('--functions');
const callsAt = args.indexOf('--calls');
const calls = callsAt >= 0 ? Number(args[callsAt + 1]) : Number.NaN;
const inputs = args.filter((a, i) => a !== '--calls' && a !== '--functions' && (callsAt < 0 || i !== callsAt + 1));
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(p, f)) : [p]));
const byModule = new Map<string, number>();
for (const f of files) {
  const prof = JSON.parse(readFileSync(f, 'utf8')) as Profile;
  const mod = new Map(prof.nodes.map((n) => [n.id, byFunction ? functionOf(n) : moduleOf(n)]));
  prof.samples.forEach((id, i) => {
    const m = mod.get(id) ?? '?';
    byModule.set(m, (byModule.get(m) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
}
const busy = [...byModule].filter(([m]) => m !== '(idle)').reduce((a, [, us]) => a + us, 0);
process.stdout.write(`${files.length} profile(s); busy ${(busy / 1e6).toFixed(2)} s${Number.isFinite(calls) ? `, ${calls} calls: ${(busy / calls / 1000).toFixed(3)} ms per call` : ''}\n\n| ${byFunction ? 'function' : 'module'} | share of busy time | ${Number.isFinite(calls) ? 'ms per call |' : ''}\n|---|---|${Number.isFinite(calls) ? '---|' : ''}\n`);
for (const [m, us] of [...byModule].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  process.stdout.write(`| ${m} | ${((100 * us) / busy).toFixed(1)}% | ${Number.isFinite(calls) ? `${(us / calls / 1000).toFixed(3)} |` : ''}\n`);
}
