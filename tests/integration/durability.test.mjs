// Nothing acknowledged is lost (store_sync, issue 18): with `store_sync: ack` (the default) a
// REGISTER's 200 OK goes out only once its binding is committed, so SIGKILL at any moment of a
// running REGISTER load loses no answered binding: the store holds every one, and the daemon
// restarted on it restores them and routes to them. A full disk (a small tmpfs in a mount
// namespace of the daemon's own) turns the 200 into 503 with Retry-After, counted, and GET
// /ready into 503 naming the cause; once space is freed, everything recovers by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { haveSqlite3, metric, sqlite3 } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { buildRequest, endpointIn, uriOf } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const kNoSqlite3 = !haveSqlite3 && 'no sqlite3 shell (Debian package sqlite3)';

/** A REGISTER of `user`@localhost binding `port` of 127.0.0.1 (one Via: a phone of its own). */
function register(user, port, cseq = 1) {
  return buildRequest({
    method: 'REGISTER',
    ruri: 'sip:localhost',
    via: `SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${user}-${cseq}`,
    from: `<sip:${user}@localhost>;tag=t-${user}`,
    to: `<sip:${user}@localhost>`,
    callId: `reg-${user}`,
    cseq,
    contact: `<sip:${user}@127.0.0.1:${port}>;expires=3600`,
  });
}

/**
 * REGISTERs `prefix`0, 1, ... from endpoint `ep` to daemon `d`, `window` in flight at once, and
 * SIGKILLs the daemon in the same event-loop turn as the `killAt`-th 200 OK arrives (the load
 * is still running then: `window - 1` more REGISTERs are in flight). Resolves with the users
 * answered 200 before the kill.
 */
async function registerUntilKill(d, ep, prefix, killAt, window = 32) {
  const answered = [];
  let sent = 0;
  let killed = false;
  ep.received.length = 0;
  ep.listeners.clear();
  const send = () => ep.send(register(`${prefix}${sent++}`, ep.port), d.ports.udp);
  const done = new Promise((resolve) => {
    ep.listeners.add(() => {
      while (!killed && answered.length < killAt && ep.received.length > 0) {
        const { msg } = ep.received.shift();
        if (msg.status !== 200) continue;
        answered.push(/^<sip:([^@]+)@/.exec(msg.get('to'))[1]);
        if (answered.length === killAt) {
          process.kill(d.pid, 'SIGKILL');
          killed = true;
          resolve();
          return;
        }
        send();
      }
    });
  });
  for (let i = 0; i < window; i++) send();
  await withTimeout(done, 20000, `${killAt} answered REGISTERs (got ${answered.length})`);
  await d.exited;
  return answered;
}

/** The users whose bindings are rows of the store of `d` (sqlite3 shell). */
async function storedUsers(d) {
  const out = await sqlite3(d.store, 'SELECT aor FROM location');
  return new Set(out.split('\n').filter(Boolean).map((aor) => aor.split('@')[0]));
}

test('store_sync=ack: SIGKILL at three points of a REGISTER load loses no answered binding; ' +
  'a restart restores and routes to them', { skip: kNoSqlite3 }, (t) =>
  withScope(t, async (s) => {
    const ep = await endpointIn(s, 'phones');
    let d = await daemonIn(s, { auth: 'off' });
    const answeredAll = [];
    for (const [round, killAt] of [[0, 40], [1, 150], [2, 300]]) {
      const answered = await registerUntilKill(d, ep, `r${round}u`, killAt);
      answeredAll.push(...answered);
      const stored = await storedUsers(d);
      const lost = answeredAll.filter((u) => !stored.has(u));
      assert.deepEqual(lost, [], `round ${round}: answered 200 but not in the store after SIGKILL`);
      t.diagnostic(`round ${round}: ${answered.length} answered, ${stored.size} rows in all`);

      // The restarted daemon restores every stored binding, and routes to an answered one.
      d = await daemonIn(s, { auth: 'off', dir: d.dir, ports: d.ports });
      await d.waitStderr(new RegExp(`store: ${stored.size} bindings restored`));
      const user = answered[answered.length - 1];
      const caller = await endpointIn(s, `caller ${round}`);
      ep.received.length = 0;
      ep.listeners.clear();
      await caller.send(buildRequest({
        method: 'MESSAGE',
        ruri: `sip:${user}@localhost`,
        via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-msg-${round}`,
        from: `<sip:caller@localhost>;tag=c${round}`,
        to: `<sip:${user}@localhost>`,
        callId: `msg-${round}`,
        cseq: 1,
        body: 'after the crash',
        contentType: 'text/plain',
      }), d.ports.udp);
      const got = await ep.waitFor((m) => m.method === 'MESSAGE', { what: `the MESSAGE to ${user}` });
      assert.equal(uriOf(got.msg.ruri), `sip:${user}@127.0.0.1:${ep.port}`);
    }
  }));

test('store_sync=batch: the 200 OK does not wait for the store (write-behind)',
  { skip: kNoSqlite3 }, (t) =>
    withScope(t, async (s) => {
      const ep = await endpointIn(s, 'phones');
      const d = await daemonIn(s, { auth: 'off', extraSets: ['store_sync=batch'] });
      for (let i = 0; i < 20; i++) {
        const from = ep.received.length;
        await ep.send(register(`w${i}`, ep.port), d.ports.udp);
        await ep.waitFor((m) => m.status === 200, { from, what: `w${i}'s 200` });
      }
      assert.equal(await metric(d, 'registrar_register_ok'), 20);
      assert.equal(await metric(d, 'registrar_register_waited_durable'), 0);
      const answered = await registerUntilKill(d, ep, 'b', 300);
      const stored = await storedUsers(d);
      const lost = answered.filter((u) => !stored.has(u));
      // What batch may lose is measured, not asserted (docs/performance.md).
      t.diagnostic(`batch: ${answered.length} answered, ${lost.length} of them not in the store`);
    }));

/** Can this process mount a tmpfs in a mount namespace of its own (root, or a user namespace)? */
const tmpfsWrap = (() => {
  for (const ns of [['-m'], ['-rm']]) {
    const r = spawnSync('unshare', [...ns, 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'],
      { timeout: 5000 });
    if (r.status === 0) return ns;
  }
  return null;
})();

test('a full disk: REGISTER gets 503 with Retry-After, /ready is 503, both recover by themselves',
  { skip: !tmpfsWrap && 'cannot mount a tmpfs in a mount namespace (unshare -m)' }, (t) =>
    withScope(t, async (s) => {
      // The store lives on a 1 MiB tmpfs that only the daemon's mount namespace sees; the test
      // reaches it through /proc/PID/root.
      const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'sipws-disk-'));
      const disk = path.join(dir, 'disk');
      fs.mkdirSync(disk);
      const d = await daemonIn(s, {
        auth: 'off',
        dir,
        extraSets: [`store=sqlite:${disk}/sipws.db`],
        wrap: ['unshare', ...tmpfsWrap, 'sh', '-c',
          `mount -t tmpfs -o size=1m tmpfs '${disk}' && exec "$@"`, 'sh'],
      });
      const inNs = path.join(`/proc/${d.pid}/root`, disk);
      const ready = async () => {
        const r = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
        return { status: r.status, text: await r.text() };
      };
      const ep = await endpointIn(s, 'phone');
      let cseq = 0;
      const registerOnce = async (user) => {
        const from = ep.received.length;
        await ep.send(register(user, ep.port, ++cseq), d.ports.udp);
        return (await ep.waitFor((m) => m.status >= 200, { from, what: `${user}'s answer` })).msg;
      };
      assert.equal((await registerOnce('before')).status, 200);
      assert.deepEqual(await ready(), { status: 200, text: 'ready\n' });

      // Fill the tmpfs to the last byte.
      const filler = path.join(inNs, 'filler');
      const fd = fs.openSync(filler, 'w');
      const chunk = Buffer.alloc(16384, 1);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (e) {
        assert.equal(e.code, 'ENOSPC', `filling the tmpfs: ${e.message}`);
      }
      try {
        for (;;) fs.writeSync(fd, chunk, 0, 1);
      } catch {}
      fs.closeSync(fd);

      const notDurable = await metric(d, 'registrar_register_not_durable');
      const writeErrors = await metric(d, 'store_write_errors');
      // New bindings need new WAL pages: the first REGISTERs past the last free page fail.
      let refused = null;
      for (let i = 0; i < 50 && !refused; i++) {
        const r = await registerOnce(`full${i}`);
        if (r.status !== 200) refused = r;
      }
      assert.ok(refused, 'no REGISTER was refused with the disk full');
      assert.equal(refused.status, 503, refused.first);
      assert.equal(refused.reason, 'Service Unavailable - Store Unavailable');
      assert.equal(refused.get('retry-after'), '5');
      assert.ok(await metric(d, 'registrar_register_not_durable') > notDurable);
      assert.ok(await metric(d, 'store_write_errors') > writeErrors);
      const r = await ready();
      assert.equal(r.status, 503);
      assert.match(r.text, /^not ready: store: .*(full|disk)/i);

      // Space again: the store's check (every second) makes /ready 200 by itself.
      fs.unlinkSync(filler);
      await waitFor(async () => (await ready()).status === 200, { ms: 10000, what: '/ready 200' });
      // (The sqlite3 shell cannot read the file through /proc/PID/root: SQLite resolves the
      // link to a path of this namespace. The 200 waited for its commit: the counter says so.)
      const waited = await metric(d, 'registrar_register_waited_durable');
      assert.equal((await registerOnce('after')).status, 200);
      assert.equal(await metric(d, 'registrar_register_waited_durable'), waited + 1);
      assert.deepEqual(await ready(), { status: 200, text: 'ready\n' });
      await d.stop();
    }));
