/**
 * How `npm start` (node dist/server.js) tells a person it is up, or why it is not: one human-readable
 * line on stderr with the console's URL once everything listens, and a port already taken stops the
 * start (exit 1) with a message naming the PORT variable, never after saying it is ready.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serverProcess } from '../support/server-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tnp-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { run, start, stop } = serverProcess(dir);

/** A port some other process already listens on. */
async function takenPort(): Promise<{ port: number; server: NetServer }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

describe('npm start: the start line and a taken port', () => {
  it('says once, in words, where it listens and where the console is', async () => {
    const s = await start(null, mkdtempSync(join(dir, 'ok-')));
    try {
      const port = new URL(s.url).port;
      const line = s.output().split('\n').find((l) => l.startsWith('hs-troponin-cds ready'));
      expect(line).toMatch(new RegExp(`^hs-troponin-cds ready on ${s.url} \\(console: ${s.url}/console[;)]`));
      expect(port).not.toBe('0');
      // The structured log says so too, after listening. It goes to stdout and the start line to stderr:
      // two pipes, so under load either may reach this process first. Wait for it (bounded far beyond
      // what load can cause), then count.
      const readyLines = (): string[] => s.output().split('\n').filter((l) => l.startsWith('{') && l.includes('"event":"ready"'));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(poll);
          reject(new Error(`no "ready" log line in 50 s:\n${s.output()}`));
        }, 50_000);
        const poll = setInterval(() => {
          if (readyLines().length === 0) return;
          clearInterval(poll);
          clearTimeout(timer);
          resolve();
        }, 20);
      });
      expect(readyLines()).toHaveLength(1);
    } finally {
      expect(await stop(s)).toBe(0);
    }
  });

  it('a port already in use: exit 1, the PORT variable named, never "ready"', async () => {
    const { port, server } = await takenPort();
    try {
      const r = run(null, mkdtempSync(join(dir, 'taken-')), { env: { PORT: String(port) } });
      expect(await r.exited).toBe(1);
      const out = r.output();
      expect(out).toContain('cannot start');
      expect(out).toContain(`127.0.0.1:${port}`);
      expect(out).toContain('EADDRINUSE');
      expect(out).toMatch(/\bPORT\b.*environment variable|environment variable.*\bPORT\b/);
      expect(out).not.toMatch(/\bready\b/i);
    } finally {
      server.close();
    }
  });
});
