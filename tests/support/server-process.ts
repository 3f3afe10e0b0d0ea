/**
 * The real entry point as a child process: `node dist/server.js` (what `npm start` runs; the global setup
 * builds dist/) with its settings file, on 127.0.0.1 and a port the system picks. Used by the tests that
 * must see the process itself: its exit code and message, its real sockets, a kill -9, a file size limit.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SERVER = join(ROOT, 'dist', 'server.js');

export interface Server {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly output: () => string;
}

export interface Running {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

export interface RunOptions {
  /** Run the process as this user and group (root only): e.g. a user that may not write the store. */
  readonly uid?: number;
  readonly gid?: number;
  /** A command put before node (e.g. `['prlimit', '--fsize=262144', '--']`). */
  readonly prefix?: readonly string[];
  /** More environment variables (over HOST=127.0.0.1 and PORT=0), e.g. another PORT. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ServerProcessKit {
  /**
   * Writes a settings file (an object as JSON, or a string as is) in the kit's directory. An object without
   * `workers` gets `workers: 1` (one process, what these tests look at: its exit code, its sockets, a kill -9);
   * cluster mode is tested with `workers` set (tests/integration/cluster.test.ts).
   */
  readonly settingsFile: (content: unknown) => string;
  /** Starts the process with HS_TROPONIN_CDS_SETTINGS = `file` (none when null). */
  readonly run: (file: string | null, cwd?: string, opts?: RunOptions) => Running;
  /**
   * Starts it and waits for its start line, "hs-troponin-cds ready on <url>", written once everything
   * listens (in a cluster, by the primary once every worker does); rejects if it exits first.
   */
  readonly start: (file: string | null, cwd?: string, opts?: RunOptions) => Promise<Server>;
  /** Sends the signal and resolves with the exit code. */
  readonly stop: (s: Server, signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Helpers for one test file; `dir` holds the settings files (and is the default working directory). */
export function serverProcess(dir: string): ServerProcessKit {
  const settingsFile = (content: unknown): string => {
    const file = join(dir, `settings-${randomUUID()}.json`);
    const single = typeof content === 'object' && content !== null && !Array.isArray(content) && !('workers' in content) ? { workers: 1, ...content } : content;
    writeFileSync(file, typeof single === 'string' ? single : JSON.stringify(single));
    return file;
  };

  const run = (file: string | null, cwd = dir, opts: RunOptions = {}): Running => {
    const env: Record<string, string | undefined> = { ...process.env, HOST: '127.0.0.1', PORT: '0', ...opts.env };
    if (file === null) delete env['HS_TROPONIN_CDS_SETTINGS'];
    else env['HS_TROPONIN_CDS_SETTINGS'] = file;
    const [command, ...args] = [...(opts.prefix ?? []), process.execPath, SERVER];
    const proc = spawn(command ?? process.execPath, args, {
      cwd,
      env,
      stdio: 'pipe',
      ...(opts.uid === undefined ? {} : { uid: opts.uid }),
      ...(opts.gid === undefined ? {} : { gid: opts.gid }),
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    return { proc, output: () => out, exited };
  };

  const start = async (file: string | null, cwd = dir, opts: RunOptions = {}): Promise<Server> => {
    const r = run(file, cwd, opts);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start line in 50 s:\n${r.output()}`)), 50_000);
      const poll = setInterval(() => {
        const m = /^hs-troponin-cds ready on (http:\/\/127\.0\.0\.1:\d+)/m.exec(r.output());
        if (m?.[1] !== undefined) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(m[1]);
        }
      }, 20);
      void r.exited.then((code) => {
        clearInterval(poll);
        clearTimeout(timer);
        reject(new Error(`the server exited (${String(code)}):\n${r.output()}`));
      });
    });
    return { proc: r.proc, url, output: r.output };
  };

  const stop = async (s: Server, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (s.proc.exitCode !== null) return s.proc.exitCode;
    const done = new Promise<number | null>((resolve) => s.proc.once('exit', (code) => resolve(code)));
    s.proc.kill(signal);
    return done;
  };

  return { settingsFile, run, start, stop };
}
