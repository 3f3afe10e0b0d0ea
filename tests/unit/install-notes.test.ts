/**
 * What `npm ci` prints is explained, and stays so when the dependencies change: every package of the lock
 * file with an install script is allowed or denied in package.json `allowScripts` (npm warns "install
 * scripts not yet covered by allowScripts" otherwise), every package whose `engines` asks for a newer Node
 * than the project's (npm's EBADENGINE warning) is named, with its version, in the README's set-up
 * section, and that section names the Node the project's `engines` asks for.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; allowScripts?: Record<string, boolean> };
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string; hasInstallScript?: boolean; engines?: { node?: string } | string[] }> };
const setUp = /## Set up\n([\s\S]*?)\n## /.exec(read('README.md'))?.[1] ?? '';

/** The name of a lock-file entry: the last `node_modules/<name>` of its path. */
const nameOf = (path: string): string => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
/** [major, minor] of the lowest Node a `>=X.Y` range admits; null for another form. */
const minimum = (range: string): [number, number] | null => {
  const m = /^\s*>=\s*v?(\d+)(?:\.(\d+))?/.exec(range);
  return m === null ? null : [Number(m[1]), Number(m[2] ?? 0)];
};

describe('npm ci: install scripts and engines', () => {
  it('every package with an install script is allowed or denied in allowScripts', () => {
    const withScripts = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.hasInstallScript === true).map(([path]) => nameOf(path));
    expect(withScripts.length).toBeGreaterThan(0);
    const uncovered = withScripts.filter((name) => typeof pkg.allowScripts?.[name] !== 'boolean');
    expect(uncovered).toEqual([]);
  });

  it("every package asking for a newer Node than the project's is named in the README's set-up section", () => {
    const project = minimum(pkg.engines.node);
    expect(project).not.toBeNull();
    const [major, minor] = project ?? [0, 0];
    expect(setUp).toContain(`Node ${major}.${minor} or later`);
    const newer = Object.entries(lock.packages).flatMap(([path, p]) => {
      const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
      const min = range === undefined ? null : minimum(range);
      return path !== '' && min !== null && (min[0] > major || (min[0] === major && min[1] > minor)) ? [`${nameOf(path)}@${p.version ?? ''}`] : [];
    });
    expect(newer.length).toBeGreaterThan(0);
    for (const spec of newer) expect(setUp, spec).toContain(spec);
  });
});
