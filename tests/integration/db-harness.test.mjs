// The real-server harness of lib/db.mjs, for PostgreSQL and MariaDB: the server starts on a free
// loopback port, createDatabase() gives distinct databases, the sipws password in the URI works
// over TCP and a wrong one is refused, stop() makes connecting fail and start() brings the server
// back with its data, close() stops it and removes its folder, and a process that exits (or is
// killed) without close() leaves no server behind. Skipped when a server's programs are missing,
// failed instead when SIPWS_REQUIRE_DB=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { makeTempDir } from './lib/daemon.mjs';
import { dbUnavailable, startMariaDb, startPostgres } from './lib/db.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dbLib = pathToFileURL(path.join(here, 'lib', 'db.mjs')).href;
const kinds = [['postgresql', startPostgres], ['mariadb', startMariaDb]];

/** The skip reason for `kind` (false when available); throws when SIPWS_REQUIRE_DB=1. */
function skipUnless(kind) {
  const why = dbUnavailable(kind);
  if (why && process.env.SIPWS_REQUIRE_DB === '1') {
    throw new Error(`${why} (SIPWS_REQUIRE_DB=1: a database server is required)`);
  }
  return why || false;
}

/** Resolves whether a TCP connection to 127.0.0.1:`port` is refused (ECONNREFUSED). */
function refused(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Whether process `pid` is gone (or a zombie nobody reaped: dead all the same). */
function processGone(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

for (const [kind, start] of kinds) {
  test(`db harness (${kind}): databases, sipws password over TCP, stop and start keep data`,
    { skip: skipUnless(kind) }, (t) =>
      withScope(t, async (scope) => {
        const dir = makeTempDir(`sipws-${kind}-`);
        scope.tempDir(dir);
        const db = await start(dir);
        scope.defer(() => db.close());
        scope.log(`${kind} log`, () => db.log());
        t.diagnostic(`${kind} started in ${db.startupMs} ms on port ${db.port}, pid ${db.pid}`);
        assert.equal(db.kind, kind);
        assert.ok(db.pid > 0);
        assert.ok(![3306, 5432].includes(db.port));

        // Two distinct databases with the sipws user's URI.
        const a = await db.createDatabase();
        const b = await db.createDatabase();
        assert.notEqual(a, b);
        const scheme = kind === 'postgresql' ? 'postgresql' : 'mysql';
        for (const uri of [a, b]) {
          assert.ok(uri.startsWith(`${scheme}://sipws:${db.password}@127.0.0.1:${db.port}/`), uri);
        }

        // The password works over TCP: the sipws user makes a table and a row there.
        let r = await db.queryUri(a, 'CREATE TABLE kept (x INT)');
        assert.equal(r.code, 0, r.stderr);
        r = await db.queryUri(a, 'INSERT INTO kept VALUES (7)');
        assert.equal(r.code, 0, r.stderr);
        r = await db.queryUri(a, 'SELECT x FROM kept');
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, '7\n');
        const name = a.slice(a.lastIndexOf('/') + 1);
        assert.equal(await db.exec(name, "SELECT x, 'a' FROM kept"), '7\ta\n');
        await assert.rejects(db.exec('', 'SELEC 1'), /exec in '' failed/);

        // A wrong password is refused.
        r = await db.queryUri(a.replace(`:${db.password}@`, `:wrong${db.password}@`), 'SELECT 1');
        assert.notEqual(r.code, 0);
        assert.match(r.stderr,
          kind === 'postgresql' ? /password authentication failed/ : /Access denied/);

        // stop(): down, connections refused; start(): same port, data kept.
        const before = db.pid;
        let t0 = Date.now();
        await db.stop();
        const stopMs = Date.now() - t0;
        assert.equal(db.pid, null);
        assert.ok(processGone(before), `pid ${before} still runs`);
        assert.ok(await refused(db.port));
        r = await db.queryUri(a, 'SELECT x FROM kept');
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /refused|Can't connect/);
        t0 = Date.now();
        await db.start();
        t.diagnostic(`${kind} stop ${stopMs} ms, restart ${Date.now() - t0} ms`);
        assert.ok(db.pid > 0 && db.pid !== before);
        r = await db.queryUri(a, 'SELECT x FROM kept');
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, '7\n');

        // A start failure (the port taken meanwhile) rejects with the server log's last lines.
        await db.stop();
        const blocker = net.createServer();
        await new Promise((resolve, reject) => {
          blocker.once('error', reject);
          blocker.listen(db.port, '127.0.0.1', resolve);
        });
        try {
          await assert.rejects(db.start(), /last lines of [^\n]*\n[^]*Address already in use/);
          assert.equal(db.pid, null);
        } finally {
          await new Promise((resolve) => blocker.close(resolve));
        }
        await db.start();
        assert.equal(await db.exec('', 'SELECT 1'), '1\n');

        // close(): stopped and the folder gone.
        const pid = db.pid;
        await db.close();
        assert.ok(processGone(pid));
        assert.ok(!fs.existsSync(dir));
      }));

  for (const mode of ['exit', 'kill']) {
    const what = mode === 'exit' ? 'exits without close()' : 'is killed';
    test(`db harness (${kind}): no server left when the process ${what}`,
      { skip: skipUnless(kind) }, (t) =>
        withScope(t, async (scope) => {
          const dir = makeTempDir(`sipws-${kind}-`);
          scope.tempDir(dir);
          // A child node process starts a server, prints its PID, then exits or SIGKILLs itself.
          const fn = kind === 'postgresql' ? 'startPostgres' : 'startMariaDb';
          const code = `import { ${fn} } from ${JSON.stringify(dbLib)};
            const db = await ${fn}(${JSON.stringify(dir)});
            console.log('pid=' + db.pid);
            ${mode === 'kill' ? "process.kill(process.pid, 'SIGKILL');" : 'process.exit(0);'}`;
          const out = await new Promise((resolve) => {
            execFile(process.execPath, ['--input-type=module', '-e', code],
              { timeout: 120000, killSignal: 'SIGKILL' },
              (err, stdout, stderr) => resolve({ err, stdout, stderr }));
          });
          scope.log('child output', () => `${out.stdout}\n${out.stderr}`);
          const pid = Number(/pid=(\d+)/.exec(out.stdout)?.[1]);
          assert.ok(pid > 0, `no pid from the child: ${out.stderr}`);
          if (mode === 'kill') assert.equal(out.err?.signal, 'SIGKILL');
          else assert.equal(out.err, null);
          // SIGKILL from the 'exit' handler, or from the kernel (parent-death signal).
          await waitFor(() => processGone(pid), { ms: 5000, what: `server pid ${pid} gone` });
          if (mode === 'exit') {
            assert.ok(!fs.existsSync(dir), 'folder left after exit');
          }
        }));
  }
}
