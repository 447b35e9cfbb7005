// Real PostgreSQL and MariaDB servers (Debian packages postgresql, mariadb-server) for tests of
// the store's SOCI backends: started in a folder the caller owns, on a free 127.0.0.1 port (never
// 5432 / 3306), stopped by PID. The same behaviour as tests/unit/store/db_servers.hpp.
//
// PostgreSQL: initdb --auth-local=trust --auth-host=scram-sha-256 -U postgres, then postgres with
// fsync off (tests only); run as user `postgres` (else `nobody`) through setpriv when this
// process is root. MariaDB: mariadb-install-db (root over the unix socket), then mariadbd. Both get
// a `sipws` user with a random password (PostgreSQL: LOGIN CREATEDB; MariaDB: ALL on *.* from
// 127.0.0.1 and localhost). The superuser connects over the unix socket in the folder.
//
// Servers run under `setpriv --pdeathsig=SIGKILL` (when setpriv exists): if this process dies
// without running its 'exit' handlers, the kernel kills them. On a normal exit, a server not
// closed is killed (procs.mjs) and its folder removed (below).
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.mjs';
import { trackPid, untrackPid } from './procs.mjs';
import { waitFor } from './wait.mjs';

const kServerMs = 30000; // readiness after a start; exit after a stop signal
const kClientMs = 30000; // one psql / mariadb / pg_isready run
const kInitMs = 120000; // initdb / mariadb-install-db on a loaded 2-core machine
const kUser = 'sipws';
const kSbin = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin'];
const kPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Folders of servers started and not closed: removed when the process exits. */
const openDirs = new Set();
process.on('exit', () => {
  // procs.mjs's 'exit' handler (registered first: imported above) already sent SIGKILL.
  for (const dir of openDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
    } catch {}
  }
});

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first of `names` executable in `dirs`, $PATH or the sbin folders; '' when none is. */
function findProgram(names, dirs = []) {
  const search = [...dirs, ...(process.env.PATH || '').split(':').filter(Boolean), ...kSbin];
  for (const name of names) {
    for (const dir of search) {
      const file = path.join(dir, name);
      if (executable(file)) return file;
    }
  }
  return '';
}

/** $SIPWS_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin with initdb, else initdb's dir. */
function postgresBindir() {
  if (process.env.SIPWS_PG_BINDIR) return process.env.SIPWS_PG_BINDIR;
  let versions = [];
  try {
    versions = fs.readdirSync('/usr/lib/postgresql');
  } catch {}
  const best = versions
    .filter((v) => executable(`/usr/lib/postgresql/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a))[0];
  if (best) return `/usr/lib/postgresql/${best}/bin`;
  const initdb = findProgram(['initdb']);
  return initdb ? path.dirname(initdb) : '';
}

/** {uid, gid} of `name` in /etc/passwd, or null. */
function passwdEntry(name) {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {}
  return null;
}

const isRoot = process.getuid() === 0;

/** The programs of `kind` ('postgresql' | 'mariadb'): {why} when one is missing. */
function programs(kind) {
  const setpriv = findProgram(['setpriv']);
  if (kind === 'postgresql') {
    const bin = postgresBindir();
    if (!bin) {
      return { why: 'initdb not found (Debian package postgresql; or set SIPWS_PG_BINDIR)' };
    }
    const p = {
      setpriv,
      initdb: path.join(bin, 'initdb'),
      server: path.join(bin, 'postgres'),
      psql: findProgram(['psql'], [bin]),
      pgIsready: findProgram(['pg_isready'], [bin]),
    };
    for (const [key, name] of [['initdb', 'initdb'], ['server', 'postgres'], ['psql', 'psql'],
      ['pgIsready', 'pg_isready']]) {
      if (!executable(p[key])) return { why: `${name} not found (in ${bin} or PATH)` };
    }
    if (isRoot && !setpriv) return { why: 'running as root and setpriv (util-linux) not found' };
    if (isRoot && !passwdEntry('postgres') && !passwdEntry('nobody')) {
      return { why: 'running as root and no user postgres or nobody to run postgres' };
    }
    return p;
  }
  if (kind === 'mariadb') {
    const p = {
      setpriv,
      server: findProgram(['mariadbd', 'mysqld']),
      initdb: findProgram(['mariadb-install-db', 'mysql_install_db']),
      client: findProgram(['mariadb', 'mysql']),
    };
    if (!p.server) return { why: 'mariadbd not found (Debian package mariadb-server)' };
    if (!p.initdb) return { why: 'mariadb-install-db not found (Debian package mariadb-server)' };
    if (!p.client) return { why: 'mariadb client not found (Debian package mariadb-client)' };
    return p;
  }
  return { why: `unknown database kind ${kind}` };
}

/**
 * Why a server of `kind` ('postgresql' | 'mariadb') cannot be started here (a program missing),
 * or null when it can. A test skips with it (`t.skip(reason)`) unless
 * process.env.SIPWS_REQUIRE_DB === '1', where it fails instead.
 */
export function dbUnavailable(kind) {
  return programs(kind).why || null;
}

/** `n` random characters from [0-9a-z]: passwords with nothing to quote in SQL or URIs. */
function randomAlnum(n) {
  const chars = '0123456789abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < n; i++) s += chars[crypto.randomInt(chars.length)];
  return s;
}

/** The last `n` lines of `file` from byte `from` on (at most its last 64 KiB). */
function tailLines(file, n, from = 0) {
  try {
    const size = fs.statSync(file).size;
    const start = Math.max(from, size - 65536);
    if (start >= size) return '';
    const buf = Buffer.alloc(size - start);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, buf, 0, buf.length, start);
    } finally {
      fs.closeSync(fd);
    }
    return buf.toString('utf8').replace(/\n+$/, '').split('\n').slice(-n).join('\n');
  } catch (err) {
    return `(cannot read ${file}: ${err.message})`;
  }
}

function fileSize(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Runs `file args` (no shell) with exactly `env`, stdin closed, at most `ms` (then SIGKILL).
 * Resolves {code, stdout, stderr}: code is the exit code, 128 + signal number, or -1 when it
 * could not run or timed out (stderr says why). Never rejects.
 */
function runClient(file, args, env, ms = kClientMs) {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, timeout: ms, killSignal: 'SIGKILL',
      maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      let code = 0;
      if (err && typeof err.code === 'number') {
        code = err.code;
      } else if (err && err.killed) {
        code = -1;
        stderr += `\n[db.mjs] ${file} killed: not done within ${ms} ms`;
      } else if (err && err.signal) {
        code = 128 + (os.constants.signals[err.signal] || 0);
      } else if (err) {
        code = -1;
        stderr += `\n[db.mjs] ${file}: ${err.message}`;
      }
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/** Runs `argv` with its output appended to `log`; resolves its exit code (-1: timeout/spawn). */
function runLogged(argv, env, log, ms) {
  return new Promise((resolve) => {
    const fd = fs.openSync(log, 'a');
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    trackPid(child.pid);
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {}
    }, ms);
    child.once('error', (err) => {
      clearTimeout(timer);
      fs.appendFileSync(log, `\n[db.mjs] spawn ${argv[0]}: ${err.message}\n`);
      resolve(-1);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      untrackPid(child.pid);
      resolve(code ?? (signal === 'SIGKILL' ? -1 : 128));
    });
  });
}

/**
 * Starts a server of `kind` in folder `dir` (created if missing; owned by the caller, removed by
 * close()). Rejects with the reason (a missing program, the last lines of a failing log).
 */
async function startServer(kind, dir) {
  const p = programs(kind);
  if (p.why) throw new Error(`${kind} server: ${p.why}`);
  const pg = kind === 'postgresql';
  const t0 = Date.now();
  fs.mkdirSync(dir, { recursive: true });
  dir = fs.realpathSync(dir);
  const data = path.join(dir, 'data');
  const run = path.join(dir, 'run');
  const socket = pg ? run : path.join(run, 'mariadbd.sock');
  const log = path.join(dir, pg ? 'postgres.log' : 'mariadbd.log');
  const initLog = path.join(dir, pg ? 'initdb.log' : 'install-db.log');
  if (path.join(run, '.s.PGSQL.65535.lock').length > 100) {
    throw new Error(`${kind} server: folder path too long for a unix socket: ${dir}`);
  }
  fs.chmodSync(dir, 0o711);
  fs.mkdirSync(data, { mode: 0o700 });
  fs.mkdirSync(run, { mode: 0o755 });
  const env = { PATH: kPath, LC_ALL: 'C', TZ: 'UTC', HOME: dir };
  const superuser = pg ? 'postgres' : isRoot ? 'root' : os.userInfo().username;
  const password = randomAlnum(24);

  // setpriv: the server user when root (PostgreSQL), and SIGKILL when this process dies.
  let wrap = p.setpriv ? [p.setpriv, '--pdeathsig=SIGKILL', '--'] : [];
  if (pg && isRoot) {
    const u = passwdEntry('postgres') || passwdEntry('nobody');
    fs.chownSync(data, u.uid, u.gid);
    fs.chownSync(run, u.uid, u.gid);
    wrap = [p.setpriv, `--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
      '--pdeathsig=SIGKILL', '--'];
  }

  const initArgv = pg
    ? [...wrap, p.initdb, '-D', data, '--auth-local=trust', '--auth-host=scram-sha-256',
      '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']
    : [p.initdb, '--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=socket',
      `--auth-root-socket-user=${superuser}`, '--skip-test-db', ...(isRoot ? ['--user=root'] : []),
      '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M',
      '--innodb-use-native-aio=0', '--skip-log-bin'];
  const initCode = await runLogged(initArgv, env, initLog, kInitMs);
  if (initCode !== 0) {
    throw new Error(`${kind} server: ${path.basename(p.initdb)} exited ${initCode}; last lines ` +
      `of ${initLog}:\n${tailLines(initLog, 20)}`);
  }

  let port = 0;
  const serverArgv = () => (pg
    ? [...wrap, p.server, '-D', data, '-p', String(port), '-k', run,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off',
      '-c', 'synchronous_commit=off', '-c', 'shared_buffers=16MB']
    : [...wrap, p.server, '--no-defaults', `--datadir=${data}`, `--port=${port}`,
      '--bind-address=127.0.0.1', `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'mariadbd.pid')}`, `--tmpdir=${dir}`, '--skip-log-bin',
      '--skip-name-resolve', '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M',
      '--innodb-flush-log-at-trx-commit=0', '--innodb-use-native-aio=0',
      ...(isRoot ? ['--user=root'] : [])]);

  const superuserClient = (db, sql) => (pg
    ? runClient(p.psql, ['-X', '-w', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
      '-h', run, '-p', String(port), '-U', 'postgres', '-d', db || 'postgres', '-c', sql], env)
    : runClient(p.client, ['--no-defaults', '--protocol=SOCKET', '-S', socket, '-u', superuser,
      '--connect-timeout=5', '-N', '-B', ...(db ? ['-D', db] : []), '-e', sql], env));
  const ready = async () => (pg
    ? runClient(p.pgIsready, ['-q', '-h', run, '-p', String(port), '-U', 'postgres',
      '-d', 'postgres', '-t', '2'], env, 5000)
    : runClient(p.client, ['--no-defaults', '--protocol=SOCKET', '-S', socket, '-u', superuser,
      '--connect-timeout=2', '-N', '-B', '-e', 'SELECT 1'], env, 5000)).then((r) => r.code === 0);

  let proc = null; // the running server's ChildProcess
  let exited = null; // resolves when `proc` exited
  const running = () =>
    proc !== null && !proc.spawnFailed && proc.pid !== undefined && proc.exitCode === null &&
    proc.signalCode === null;

  /** Kills the server (SIGINT: PostgreSQL's fast shutdown; SIGTERM: MariaDB), bounded wait. */
  async function stopServer() {
    if (!running()) return true;
    const done = exited;
    proc.kill(pg ? 'SIGINT' : 'SIGTERM');
    let timer;
    const inTime = await Promise.race([
      done.then(() => true),
      new Promise((r) => (timer = setTimeout(() => r(false), kServerMs))),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      proc.kill('SIGKILL');
      await done;
    }
    return inTime;
  }

  /** Starts the server on `port` and waits (bounded) until it accepts its superuser. */
  async function launch() {
    const logStart = fileSize(log);
    const fd = fs.openSync(log, 'a');
    const argv = serverArgv();
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    proc = child;
    exited = new Promise((resolve) => {
      child.once('error', (err) => {
        child.spawnFailed = true;
        fs.appendFileSync(log, `\n[db.mjs] spawn ${argv[0]}: ${err.message}\n`);
        resolve();
      });
      child.once('exit', () => {
        untrackPid(child.pid);
        resolve();
      });
    });
    trackPid(child.pid);
    const tail = () => `; last lines of ${log}:\n${tailLines(log, 20, logStart)}`;
    try {
      await waitFor(async () => !running() || (await ready()),
        { ms: kServerMs, intervalMs: 20, what: `${kind} on port ${port}` });
    } catch (err) {
      await stopServer();
      throw new Error(`${kind}: ${err.message}${tail()}`);
    }
    if (!running()) {
      await exited;
      const bindFailed = tailLines(log, 200, logStart).includes('Address already in use');
      const err = new Error(`${kind} (pid ${child.pid}) exited (code ${child.exitCode}, signal ` +
        `${child.signalCode}) before accepting connections${tail()}`);
      err.bindFailed = bindFailed;
      throw err;
    }
  }

  openDirs.add(dir);
  try {
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        await launch();
        break;
      } catch (err) {
        if (attempt >= 1 || !err.bindFailed) throw err; // retry once on a port taken meanwhile
      }
    }
    const create = pg
      ? `CREATE ROLE ${kUser} LOGIN CREATEDB PASSWORD '${password}'`
      : `CREATE USER '${kUser}'@'127.0.0.1' IDENTIFIED BY '${password}'; ` +
        `CREATE USER '${kUser}'@'localhost' IDENTIFIED BY '${password}'; ` +
        `GRANT ALL ON *.* TO '${kUser}'@'127.0.0.1'; GRANT ALL ON *.* TO '${kUser}'@'localhost'`;
    const r = await superuserClient('', create);
    if (r.code !== 0) {
      throw new Error(`${kind}: creating the sipws user failed (exit ${r.code}): ${r.stderr}`);
    }
  } catch (err) {
    await stopServer();
    openDirs.delete(dir);
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
    throw err;
  }
  const startupMs = Date.now() - t0;

  let databases = 0;
  let closed = false;
  const handle = {
    /** 'postgresql' | 'mariadb'. */
    kind,
    /** The folder (data, sockets, logs). */
    dir,
    /** The TCP port on 127.0.0.1 (the same across stop() / start()). */
    port,
    /** The server's PID (PostgreSQL: the postmaster), null while stopped. */
    get pid() {
      return running() ? proc.pid : null;
    },
    /** The `sipws` user's password ([0-9a-z]{24}). */
    password,
    /** Wall time of the first start (initialisation, start, user), in ms. */
    startupMs,
    /** Whether the server process runs. */
    running,
    /** The URI of database `dbName` for the sipws user, as sipws takes it. */
    uri(dbName) {
      return `${pg ? 'postgresql' : 'mysql'}://${kUser}:${password}@127.0.0.1:${port}/${dbName}`;
    },
    /**
     * A new empty database with a unique name (sipws_test_N), owned by (PostgreSQL) or usable by
     * (MariaDB) the sipws user; resolves its uri(). Rejects on failure.
     */
    async createDatabase() {
      const name = `sipws_test_${++databases}`;
      await handle.exec('',
        pg ? `CREATE DATABASE "${name}" OWNER ${kUser}` : `CREATE DATABASE \`${name}\``);
      return handle.uri(name);
    },
    /**
     * Runs `sql` in database `db` ('' = PostgreSQL's `postgres`, none for MariaDB) as the
     * superuser through psql / mariadb over the unix socket; resolves its stdout: rows one a line,
     * columns tab-separated, no header. Rejects with the client's stderr on failure.
     */
    async exec(db, sql) {
      const r = await superuserClient(db, sql);
      if (r.code !== 0) {
        throw new Error(
          `${kind} exec in '${db}' failed (exit ${r.code}): ${r.stderr}\nSQL: ${sql}`);
      }
      return r.stdout;
    },
    /**
     * Runs `sql` through the command-line client over TCP with the user, password, host, port and
     * database of `uri` (scheme://USER:PW@HOST:PORT/DB), as a remote client would. Resolves
     * {code, stdout, stderr}; never rejects.
     */
    queryUri(uri, sql) {
      const m = /^[a-z]+:\/\/([^:@/]+):([^@]*)@([^:/]+):(\d+)\/(.+)$/.exec(uri);
      if (!m) return Promise.resolve({ code: -1, stdout: '', stderr: `cannot parse URI ${uri}` });
      const [, user, pw, host, p2, db] = m;
      return pg
        ? runClient(p.psql, ['-X', '-w', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
          '-h', host, '-p', p2, '-U', user, '-d', db, '-c', sql],
          { ...env, PGPASSWORD: pw, PGCONNECT_TIMEOUT: '5' })
        : runClient(p.client, ['--no-defaults', '--protocol=TCP', '-h', host, '-P', p2, '-u', user,
          `--password=${pw}`, '--connect-timeout=5', '-N', '-B', '-D', db, '-e', sql], env);
    },
    /**
     * Stops the server (PostgreSQL SIGINT: fast shutdown, open sessions ended; MariaDB SIGTERM)
     * and waits (30 s, then SIGKILL) until it exited: connections are refused. Data kept.
     * Rejects if it had to be killed.
     */
    async stop() {
      if (!(await stopServer())) {
        throw new Error(`${kind} did not exit within ${kServerMs} ms of its stop signal: killed` +
          `\n${tailLines(log, 20)}`);
      }
    },
    /** Starts it again on the same port and data; resolves once it accepts connections. */
    async start() {
      if (closed) throw new Error(`${kind} server closed`);
      if (!running()) await launch();
    },
    /** stop(), then removes the folder. */
    async close() {
      if (closed) return;
      closed = true;
      try {
        await stopServer();
      } finally {
        openDirs.delete(dir);
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
      }
    },
    /** The server log's last `n` lines. */
    log(n = 40) {
      return tailLines(log, n);
    },
  };
  return handle;
}

/**
 * A PostgreSQL server in folder `dir` (see the top of this file). Resolves
 * {kind, dir, port, pid, password, startupMs, uri(db), createDatabase(), exec(db, sql),
 * queryUri(uri, sql), stop(), start(), close(), log()}.
 */
export function startPostgres(dir) {
  return startServer('postgresql', dir);
}

/** A MariaDB server in folder `dir`: the same object as startPostgres(). */
export function startMariaDb(dir) {
  return startServer('mariadb', dir);
}
