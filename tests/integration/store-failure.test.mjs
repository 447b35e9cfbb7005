// A store that fails while the daemon runs: its SQLite subscriber table dropped with the sqlite3
// shell (as an operator's mistake or a damaged file would do it). The requests that need the
// store get 503 with Retry-After, never 401/403/404 (an error is not an unknown user); the
// failures are counted on /metrics; /ready is 503 naming the cause; the daemon keeps serving
// what needs no store (/health, OPTIONS) and does not crash; once the table is back, the same
// REGISTER is accepted and /ready is 200 again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { haveSqlite3, metric, sqlite3 } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { SipClient, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kNoSqlite3 = !haveSqlite3 && 'no sqlite3 shell (Debian package sqlite3)';

test('store failure: REGISTER and INVITE get 503 with Retry-After, counted, the daemon serves on',
  { skip: kNoSqlite3 }, (t) =>
    withScope(t, async (s) => {
      const d = await daemonIn(s, { foreignCallers: 'allow' });
      await d.addUser('alice@localhost', 'secret');
      await d.addUser('bob@localhost', 'b0b');
      const server = { host: '127.0.0.1', port: d.ports.udp };
      const alice = new SipClient(await endpointIn(s, 'alice'),
        { server, user: 'alice', password: 'secret' });
      const bob = new SipClient(await endpointIn(s, 'bob'), { server, user: 'bob', password: 'b0b' });
      const caller = new SipClient(await endpointIn(s, 'caller'),
        { server, user: 'carol', fromUri: 'sip:carol@example.net' });

      let r = await alice.register();
      assert.equal(r.final.status, 200, `alice's REGISTER before the failure: ${r.final.first}`);
      const readErrors = await metric(d, 'store_read_errors');
      const unavailable = await metric(d, 'store_unavailable_responses');

      await sqlite3(d.store, 'DROP TABLE subscriber');

      // bob's HA1 must come from the store, which cannot say: 503, not a new 401.
      r = await bob.register();
      assert.deepEqual(r.statuses, [401, 503], `REGISTER: ${r.statuses}`);
      assert.match(r.final.get('retry-after') || '', /^\d+$/, 'no Retry-After on the 503');
      // A call to bob (no binding): his forwarding rules cannot be read: 503, not 404 or 480.
      r = await caller.request('INVITE', 'sip:bob@localhost');
      assert.equal(r.final.status, 503, `INVITE: ${r.final.first}`);
      assert.match(r.final.get('retry-after') || '', /^\d+$/);
      assert.equal(await metric(d, 'store_unavailable_responses'), unavailable + 2);
      assert.equal(await metric(d, 'store_read_errors'), readErrors + 2);
      await d.waitStderr(/store: find_subscriber bob@localhost failed: .*no such table/);

      // Not ready while the store fails (a load balancer takes the node out).
      const notReady = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /^not ready: store: .*no such table: subscriber/);

      // What needs no store still works.
      const health = await fetch(`http://127.0.0.1:${d.ports.admin}/health`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'ok\n');
      r = await caller.request('OPTIONS', 'sip:localhost');
      assert.equal(r.final.status, 200, `OPTIONS: ${r.final.first}`);

      // `sipws user add` opens the store, which creates the missing table again: bob registers
      // once the daemon asks again (it remembers a failed lookup for a second).
      await d.addUser('bob@localhost', 'b0b');
      let last = null;
      await waitFor(async () => {
        last = await bob.register();
        return last.final.status === 200;
      }, { ms: 10000, intervalMs: 200, what: 'bob to register once the table is back' });
      const ready = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
      assert.equal(ready.status, 200, 'the store works again: ready again');
      assert.equal(d.proc.exitCode, null, 'the daemon exited');
      const stopped = await d.stop();
      assert.equal(stopped.code, 0, `exit ${stopped.code} (signal ${stopped.signal})`);
    }));
