// sipws on a real PostgreSQL and a real MariaDB, each started by the test (lib/db.mjs) on a
// loopback port in a temporary folder and stopped by PID:
// - every CLI command works against an empty database (the schema is created on first use),
//   `sipws db status|migrate` report it, and the password never shows;
// - the daemon registers and stores UDP bindings there; when the server stops under a
//   registration load, REGISTERs get 503 (never 401/403/404/500: an error is not an unknown
//   user), /ready says why, the daemon keeps running; once the server is back, registrations
//   succeed again within seconds with no restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, metric, runCli } from './lib/daemon.mjs';
import { dbUnavailable, startMariaDb, startPostgres } from './lib/db.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { SipClient, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kinds = [['postgresql', startPostgres, 'postgresql'], ['mariadb', startMariaDb, 'mysql']];

/** The skip reason for `kind` (false when available); throws when SIPWS_REQUIRE_DB=1. */
function skipUnless(kind) {
  const why = dbUnavailable(kind);
  if (why && process.env.SIPWS_REQUIRE_DB === '1') {
    throw new Error(`${why} (SIPWS_REQUIRE_DB=1: a database server is required)`);
  }
  return why || false;
}

/** A database server of `kind` for this test, closed (stopped, folder removed) after it. */
async function serverIn(s, start) {
  const dir = makeTempDir('sipws-db-');
  const server = await start(dir);
  s.defer(() => server.close());
  s.log(`database server log`, () => server.log(60));
  return server;
}

/** `sipws ARGS --set store=URI`: {code, stdout, stderr}. */
const cli = (uri, ...args) => runCli([...args, '--set', `store=${uri}`]);

for (const [kind, start, backend] of kinds) {
  test(`${kind}: every CLI command on an empty database, db status and migrate, no password shown`,
    { skip: skipUnless(kind) }, (t) =>
      withScope(t, async (s) => {
        const server = await serverIn(s, start);
        const uri = await server.createDatabase();
        const masked = uri.replace(`:${server.password}@`, ':***@');

        let r = await cli(uri, 'db', 'status');
        assert.equal(r.code, 1, `db status on an empty database: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^store: ${masked.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
        assert.match(r.stdout, new RegExp(`^backend: ${backend}$`, 'm'));
        assert.match(r.stdout, /^schema: none/m);

        r = await cli(uri, 'user', 'add', 'alice@localhost', 'secret');
        assert.equal(r.code, 0, `user add: ${r.stderr}`);
        r = await cli(uri, 'db', 'status');
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^schema: \d+ \(current\)$/m);
        r = await cli(uri, 'db', 'migrate');
        assert.equal(r.code, 0);
        assert.match(r.stdout, /^schema already at version \d+$/m);

        assert.equal((await cli(uri, 'user', 'add', 'bob@localhost', 'b0b')).code, 0);
        assert.equal((await cli(uri, 'group', 'add', 'alice@localhost', 'ld')).code, 0);
        assert.equal((await cli(uri, 'forward', 'set', 'alice@localhost', 'busy', 'voicemail')).code,
          0);
        assert.equal((await cli(uri, 'alias', 'add', '+15551230001', 'alice@localhost')).code, 0);
        r = await cli(uri, 'user', 'list');
        assert.equal(r.code, 0);
        assert.match(r.stdout, /^alice@localhost$/m);
        assert.match(r.stdout, /^bob@localhost$/m);
        assert.match((await cli(uri, 'group', 'list')).stdout, /^alice@localhost ld$/m);
        assert.match((await cli(uri, 'forward', 'list')).stdout, /^alice@localhost busy voicemail/m);
        assert.match((await cli(uri, 'alias', 'list')).stdout, /^\+15551230001 alice@localhost$/m);
        // What the CLI wrote is in the server's tables, HA1 only.
        const rows = await server.exec(uri.slice(uri.lastIndexOf('/') + 1),
          'SELECT username, domain, ha1_md5 FROM subscriber ORDER BY username');
        assert.match(rows, /^alice\tlocalhost\t[0-9a-f]{32}$/m);
        assert.doesNotMatch(rows, /secret/);
        assert.equal((await cli(uri, 'user', 'del', 'bob@localhost')).code, 0);
        assert.equal((await cli(uri, 'user', 'del', 'bob@localhost')).code, 1, 'bob deleted twice');

        // A wrong password: exit 2 naming the key, the password not shown.
        const wrong = uri.replace(`:${server.password}@`, ':not-the-password@');
        r = await cli(wrong, 'user', 'list');
        assert.equal(r.code, 2);
        assert.match(r.stderr, /config key 'store': cannot open .*:\*\*\*@127\.0\.0\.1/);
        assert.doesNotMatch(r.stderr + r.stdout, /not-the-password/);
        assert.doesNotMatch(r.stderr + r.stdout, new RegExp(server.password));
      }));

  test(`${kind}: the daemon stores bindings there; the server stopped under a registration load ` +
    'gives 503, never an unknown user, and registrations come back with it',
  { skip: skipUnless(kind) }, (t) =>
    withScope(t, async (s) => {
      const server = await serverIn(s, start);
      const uri = await server.createDatabase();
      const db = uri.slice(uri.lastIndexOf('/') + 1);
      const users = ['u1', 'u2', 'u3', 'u4'];
      for (const u of users) assert.equal((await cli(uri, 'user', 'add', `${u}@localhost`, 'pw')).code, 0);
      const d = await daemonIn(s, { store: uri, extraSets: ['store_pool=2'], trace: false });
      const serverAddr = { host: '127.0.0.1', port: d.ports.udp };
      const clients = [];
      for (const u of users) {
        clients.push(new SipClient(await endpointIn(s, u), { server: serverAddr, user: u, password: 'pw' }));
      }
      for (const c of clients) {
        const r = await c.register();
        assert.equal(r.final.status, 200, `first REGISTER: ${r.final.first}`);
      }
      assert.equal(await server.exec(db, 'SELECT COUNT(*) FROM location'), `${users.length}\n`,
        'the UDP bindings are in the server');

      // The load: each client re-registers back to back until told to stop; every final
      // status is kept.
      const seen = [];
      let running = true;
      const loops = clients.map(async (c) => {
        while (running) {
          const r = await c.register({ ms: 4000 }).catch((e) => ({ final: { status: 0, first: e.message } }));
          seen.push({ at: Date.now(), status: r.final.status });
        }
      });
      await waitFor(() => seen.length >= 20, { ms: 10000, what: 'the load to run' });

      await server.stop();
      const stoppedAt = Date.now();
      await waitFor(() => seen.some((x) => x.at > stoppedAt && x.status === 503),
        { ms: 10000, what: '503 while the server is down' });
      const notReady = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /^not ready: store: /);
      // A user whose HA1 no cache holds: the lookup fails: 503, not 401/403/404.
      const stranger = new SipClient(await endpointIn(s, 'u5'),
        { server: serverAddr, user: 'u5', password: 'pw' });
      const r5 = await stranger.register();
      assert.equal(r5.final.status, 503, `unknown-to-the-cache REGISTER: ${r5.statuses}`);

      await server.start();
      const startedAt = Date.now();
      await waitFor(() => seen.some((x) => x.at > startedAt + 100 && x.status === 200),
        { ms: 15000, what: 'REGISTERs to succeed again once the server is back' });
      const recovery = seen.find((x) => x.at > startedAt + 100 && x.status === 200).at - startedAt;
      running = false;
      await Promise.all(loops);
      const ready = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
      assert.equal(ready.status, 200, 'ready again');

      const statuses = new Set(seen.map((x) => x.status));
      for (const bad of [0, 401, 403, 404, 480, 500]) {
        assert.ok(!statuses.has(bad), `a REGISTER ended with ${bad} (${[...statuses]})`);
      }
      assert.ok(await metric(d, 'store_unavailable_responses') > 0);
      t.diagnostic(`${seen.length} REGISTERs; 200 again ${recovery} ms after the server started`);
      assert.equal(d.proc.exitCode, null, 'the daemon exited');
      const stopped = await d.stop();
      assert.equal(stopped.code, 0, `exit ${stopped.code} (signal ${stopped.signal})`);
    }));
}
