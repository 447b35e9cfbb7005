// sipws daemon harness: a fresh temp dir and SQLite store per daemon, free ports picked here,
// started with `sipws run --set ...`, ready when stderr shows `sipws ready`, stopped by PID.
import { spawn, execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from './ports.mjs';
import { waitFor } from './wait.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
export const sipwsBin = process.env.SIPWS_BIN
  ? path.resolve(process.env.SIPWS_BIN)
  : path.join(repoRoot, 'build', 'sipws');

const kHost = '127.0.0.1';
const kReadyTimeoutMs = 10000;
const kStopTimeoutMs = 10000;
const kMaxLog = 4 * 1024 * 1024;

/** Every daemon started by this process, so a crashed test still gets its daemon killed. */
const live = new Set();
process.on('exit', () => {
  for (const d of live) {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {}
  }
});

export function makeTempDir(prefix = 'sipws-it-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs `sipws ARGS...` to completion (10 s max); resolves {code, stdout, stderr}. */
export function runCli(args, { ms = 10000 } = {}) {
  return new Promise((resolve) => {
    execFile(sipwsBin, args, { timeout: ms, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `sipws user add AOR PASSWORD --set store=...`; throws unless it exits 0. */
export async function addUser(store, aor, password) {
  const r = await runCli(['user', 'add', aor, password, '--set', `store=${store}`]);
  if (r.code !== 0) {
    throw new Error(`sipws user add ${aor} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/**
 * The value of counter `name` (without the sipws_ prefix) on daemon `d`'s admin /metrics; 0 while
 * the counter does not exist yet (a counter appears at its first use).
 */
export async function metric(d, name) {
  const text = await fetch(`http://${d.host || kHost}:${d.ports.admin}/metrics`).then((r) => r.text());
  const m = new RegExp(`^sipws_${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** The sqlite3 shell (Debian package `sqlite3`; override with SQLITE3_BIN), if installed. */
export const sqlite3Bin = process.env.SQLITE3_BIN || 'sqlite3';
export const haveSqlite3 = spawnSync(sqlite3Bin, ['-version']).status === 0;

/**
 * Runs `sql` with the sqlite3 shell on the file of `store` (`sqlite:PATH`), as an operator (or a
 * failing disk) would change it under a running daemon; throws unless it exits 0.
 */
export async function sqlite3(store, sql) {
  const file = store.replace(/^sqlite:/, '');
  const r = await new Promise((resolve) => {
    execFile(sqlite3Bin, [file, sql], { timeout: 10000 }, (err, stdout, stderr) =>
      resolve({ err, stdout, stderr }));
  });
  if (r.err) throw new Error(`sqlite3 ${file} "${sql}" failed: ${r.err.message}\n${r.stderr}`);
  return r.stdout;
}

/**
 * Starts sipws and resolves once it printed `sipws ready`.
 * @param {object} o
 * @param {string} [o.auth='digest']  `digest` or `off`
 * @param {string} [o.dir]  temp dir to reuse (restart on the same store); new one otherwise
 * @param {string} [o.store]  the `store` URI (a database server of lib/db.mjs); default: a
 *   SQLite file in `dir`
 * @param {object} [o.ports]  {udp, tcp, ws, wss, admin} to reuse; free ones otherwise
 * @param {string} [o.host='127.0.0.1']  the address of every listener (udp, tcp, ws, wss) and
 *   of the admin listener, e.g. another loopback address (127.0.0.2) for a second node; the
 *   handle's `host`
 * @param {string[]} [o.extraSets]  more `key=value` overrides
 * @param {'challenge'|'allow'} [o.foreignCallers]  the relay policy's `foreign_callers`
 *   (`allow`: callers of other domains reach local users and aliases without a challenge)
 * @param {object[]} [o.trustedPeers]  `trusted_peers` entries (admitted by address instead of
 *   digest; see docs/configuration.md), e.g. `sippPeer()` of fixtures.mjs
 * @param {boolean} [o.trace=true]  pass --trace
 * @param {boolean} [o.embeddedStore=false]  no `--set store` / `domain`: the embedded default's
 *   store (./var/sipws.db in `dir`, the working directory), as `sipws run` without a config
 * @param {string} [o.configFile]  pass `--config FILE` (the `--set` overrides above still win
 *   over it; SIGHUP reads it again)
 * @param {string[]} [o.wrap]  a command that runs sipws as its last arguments and execs it
 *   (same PID), e.g. `['unshare', '-m', 'sh', '-c', 'mount ... && exec "$@"', 'sh']`
 */
export async function startDaemon(o = {}) {
  const dir = o.dir || makeTempDir();
  const host = o.host || kHost;
  const store = o.store || `sqlite:${path.join(dir, o.embeddedStore ? 'var' : '', 'sipws.db')}`;
  let ports = o.ports;
  if (!ports) {
    const [udp, tcp, ws, wss, admin] = await freePorts(5);
    ports = { udp, tcp, ws, wss, admin };
  }
  const listen = [
    `udp:${host}:${ports.udp}`,
    `tcp:${host}:${ports.tcp}`,
    `ws:${host}:${ports.ws}`,
    `wss:${host}:${ports.wss}`,
  ].join(',');
  const args = [
    'run',
    ...(o.configFile ? ['--config', o.configFile] : []),
    '--set', `listen=${listen}`,
    ...(o.embeddedStore ? [] : ['--set', 'domain=localhost', '--set', `store=${store}`]),
    '--set', `admin_listen=${host}:${ports.admin}`,
    '--set', `auth=${o.auth || 'digest'}`,
    '--set', 'log_level=debug',
    // A test's teardown (SIGTERM) need not wait the default 5 s for a transaction it left
    // open; shutdown.test.mjs sets its own.
    '--set', 'shutdown_grace=1',
    // The demo page of this source tree, wherever SIPWS_BIN was built (sipws finds it by
    // itself only from <repo>/build*/sipws); the embedded-default test leaves it to sipws.
    ...(o.embeddedStore || (o.extraSets || []).some((x) => x.startsWith('www_root='))
      ? []
      : ['--set', `www_root=${path.join(repoRoot, 'www', 'demo-jssip')}`]),
    ...(o.foreignCallers ? ['--set', `foreign_callers=${o.foreignCallers}`] : []),
    ...(o.trustedPeers ? ['--set', `trusted_peers=${JSON.stringify(o.trustedPeers)}`] : []),
    ...(o.extraSets || []).flatMap((s) => ['--set', s]),
  ];
  if (o.trace !== false) args.push('--trace');

  const [cmd, ...cmdArgs] = o.wrap ? [...o.wrap, sipwsBin, ...args] : [sipwsBin, ...args];
  const proc = spawn(cmd, cmdArgs, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const append = (chunk) => {
    log += chunk.toString();
    if (log.length > kMaxLog) log = log.slice(log.length - kMaxLog);
  };
  proc.stdout.on('data', append);
  proc.stderr.on('data', append);

  const exited = new Promise((resolve) => {
    proc.once('error', (err) => {
      append(`\n[harness] spawn error: ${err.message}\n`);
      resolve({ code: -1, signal: null });
    });
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const daemon = {
    pid: proc.pid,
    proc,
    dir,
    store,
    ports,
    host,
    exited,
    stderr: () => log,
    /**
     * Resolves once the log matches `re`; rejects after 5 s. Once the daemon serves, log lines
     * are written by a background thread, a moment after what they report: wait, do not
     * assert at once.
     */
    async waitStderr(re, what = '') {
      await waitFor(() => re.test(log), { ms: 5000, what: what || `the log to match ${re}` });
    },
    /** SIGTERM, wait for exit (SIGKILL after 10 s); resolves {code, signal}. Idempotent. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(proc.pid, 'SIGTERM');
        } catch {}
        const timer = setTimeout(() => {
          append('\n[harness] no exit 10 s after SIGTERM: SIGKILL\n');
          try {
            process.kill(proc.pid, 'SIGKILL');
          } catch {}
        }, kStopTimeoutMs);
        const r = await exited;
        clearTimeout(timer);
        live.delete(daemon);
        return r;
      }
      live.delete(daemon);
      return exited;
    },
    addUser: (aor, password) => addUser(store, aor, password),
  };
  if (proc.pid) live.add(daemon);

  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), kReadyTimeoutMs);
    const onData = () => {
      if (log.includes('sipws ready')) {
        clearTimeout(timer);
        resolve('ready');
      }
    };
    proc.stderr.on('data', onData);
    onData();
    exited.then((r) => {
      clearTimeout(timer);
      resolve(`exited (code ${r.code}, signal ${r.signal})`);
    });
  });
  if (ready !== 'ready') {
    await daemon.stop();
    throw new Error(
      `sipws did not print 'sipws ready' within ${kReadyTimeoutMs} ms: ${ready}\n` +
        `command: ${sipwsBin} ${args.join(' ')}\n--- sipws stderr ---\n${log}`,
    );
  }
  return daemon;
}
