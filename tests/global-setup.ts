/**
 * Build dist/ once before the tests (`npm run build`), so that tests that run the real command line,
 * the real server process or the console's browser code run the code under test, not a stale build.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}
