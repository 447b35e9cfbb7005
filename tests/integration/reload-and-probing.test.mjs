// Issue 13, the configuration contract: SIGHUP reload of the JSON config file (no call dropped,
// a change takes effect, a bad file keeps the old configuration, a non-reloadable key is only
// logged), gateway OPTIONS probing (gateways[].probe_interval: a silent gateway is marked down
// and skipped, then up again once it answers), and configuration errors at start-up (exit code
// 2 and a message naming the key).
// Gateways are raw UDP user agents from Node (lib/rawsip.mjs) that answer INVITE/BYE/OPTIONS
// with 200, or say nothing at all; callers are raw UDP clients authenticated with digest.
// Every wait is for a log line, a SIP message or a /metrics value, with a deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, metric, runCli } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { freePorts } from './lib/ports.mjs';
import { SipClient, buildResponse, endpointIn, plainSdp } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kPassword = 'secret';
const kLdReason = 'No permissions for long distance calls';
const kReloaded = /SIGHUP: configuration reloaded/g;
const kRefused = /SIGHUP: configuration not reloaded, keeping the old one/g;

/** A gateway entry on 127.0.0.1:port over UDP. */
const gw = (name, port, priority = 1, extra = {}) =>
  ({ name, uri: `sip:127.0.0.1:${port};transport=udp`, priority, ...extra });

/** A long-distance call class (10 digits, group `ld`) with `reason`. */
const ldClass = (reason, match = '^[0-9]{10}$') =>
  ({ name: 'long distance', match, group: 'ld', reason });

/** `--set` values for the structured keys (JSON). */
const sets = (o) => Object.entries(o).map(([k, v]) => `${k}=${JSON.stringify(v)}`);

/** Writes `config` as the JSON file `file`. */
const writeConfig = (file, config) => fs.writeFileSync(file, JSON.stringify(config, null, 2));

/** A daemon started with `--config FILE` (FILE written from `config` in its own temp dir). */
async function configDaemonIn(s, config) {
  const dir = makeTempDir();
  const file = path.join(dir, 'sipws.json');
  writeConfig(file, config);
  const d = await daemonIn(s, { dir, configFile: file });
  return { d, file };
}

const count = (d, re) => (d.stderr().match(re) || []).length;

/**
 * Writes `config` to `file`, sends SIGHUP to daemon `d` and waits (bounded) for its verdict in
 * the log. @returns {{outcome: 'reloaded'|'refused', log: string}} log: stderr since the HUP
 */
async function reload(d, file, config) {
  writeConfig(file, config);
  const ok0 = count(d, kReloaded);
  const bad0 = count(d, kRefused);
  const from = d.stderr().length;
  process.kill(d.pid, 'SIGHUP');
  await waitFor(() => count(d, kReloaded) > ok0 || count(d, kRefused) > bad0,
    { ms: 5000, what: 'the SIGHUP verdict ("configuration reloaded" / "not reloaded") on stderr' });
  return {
    outcome: count(d, kReloaded) > ok0 ? 'reloaded' : 'refused',
    log: d.stderr().slice(from),
  };
}

/**
 * A raw UDP user agent named `name` on 127.0.0.1: while `ua.answering`, it answers INVITE (200
 * with SDP and a Contact), BYE and OPTIONS with 200 and absorbs ACK; otherwise it is silent.
 * Everything it receives is recorded (ep.received) and shown if the test fails.
 */
async function uasIn(s, name, { answering = true } = {}) {
  const ep = await endpointIn(s, name);
  const toTags = new Map();  // Call-ID -> To tag, so an INVITE retransmission gets the same one
  const ua = {
    ep,
    port: ep.port,
    answering,
    /** INVITEs received (retransmissions counted once). */
    invites: () => [...new Map(ep.received.filter((e) => e.msg.method === 'INVITE')
      .map((e) => [e.msg.get('call-id'), e.msg])).values()],
    requests: (method) => ep.received.filter((e) => e.msg.method === method).map((e) => e.msg),
  };
  ep.onRequest = (msg, rinfo) => {
    if (!ua.answering || msg.method === 'ACK') return;
    const callId = msg.get('call-id');
    let opts = {};
    if (msg.method === 'INVITE') {
      if (!toTags.has(callId)) toTags.set(callId, crypto.randomBytes(4).toString('hex'));
      opts = {
        toTag: toTags.get(callId),
        headers: [`Contact: <sip:${name}@127.0.0.1:${ep.port}>`],
        body: plainSdp(),
      };
    }
    void ep.send(buildResponse(msg, 200, 'OK', opts), rinfo.port, rinfo.address);
  };
  return ua;
}

/** A raw UDP caller alice@localhost (a subscriber with kPassword) talking to daemon `d`. */
async function aliceIn(s, d) {
  await d.addUser('alice@localhost', kPassword);
  const ep = await endpointIn(s, 'caller alice');
  return new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user: 'alice', password: kPassword });
}

/** A response list as text for assertion messages. */
const showStatuses = (r) => r.responses.map((x) => x.msg.first).join(' | ');

/** INVITE `number`@localhost from `caller`; asserts the 407 challenge came first. */
async function call(caller, number, ms = 8000) {
  const r = await caller.request('INVITE', `sip:${number}@localhost`, { body: plainSdp(), ms });
  assert.ok(r.statuses.includes(407), `the caller was not challenged: ${showStatuses(r)}`);
  return r;
}

/** Hangs up a call the raw client set up (BYE along the route set); asserts 200. */
async function hangUp(caller, result) {
  assert.ok(result.dialog, `no dialog: final ${result.final.first}`);
  const rsp = await caller.inDialog(result.dialog, 'BYE');
  assert.equal(rsp.status, 200, `BYE got ${rsp.first}`);
}

// ------------------------------------------------------------------ SIGHUP reload

test('SIGHUP (a): a call in progress survives a reload that moves its route; its BYE still gets 200', (t) =>
  withScope(t, async (s) => {
    const gwA = await uasIn(s, 'GWA');
    const gwB = await uasIn(s, 'GWB');
    const base = {
      gateways: [gw('GWA', gwA.port), gw('GWB', gwB.port)],
      routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWA'] }],
    };
    const { d, file } = await configDaemonIn(s, base);
    const alice = await aliceIn(s, d);

    const r = await call(alice, '912345678');
    assert.equal(r.final.status, 200, `call before the reload: ${showStatuses(r)}`);
    await gwA.ep.waitFor((m) => m.method === 'ACK', { ms: 3000, what: 'the ACK at GWA' });

    // The dial plan the call was routed with is replaced while the dialog is up.
    const rl = await reload(d, file, {
      ...base,
      routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWB'] }],
      call_classes: [ldClass(kLdReason)],
    });
    assert.equal(rl.outcome, 'reloaded', `SIGHUP log:\n${rl.log}`);
    assert.equal(d.proc.exitCode, null, 'sipws exited on SIGHUP');

    await hangUp(alice, r);
    assert.equal(gwA.requests('BYE').length, 1, 'the BYE did not reach GWA (the call\'s gateway)');
    assert.equal(gwB.ep.received.length, 0, `GWB received:\n${gwB.ep.log()}`);
  }));

test('SIGHUP (b): a route moved to another gateway and a new call class take effect for new calls', (t) =>
  withScope(t, async (s) => {
    const gwA = await uasIn(s, 'GWA');
    const gwB = await uasIn(s, 'GWB');
    const base = {
      gateways: [gw('GWA', gwA.port), gw('GWB', gwB.port)],
      routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWA'] }],
    };
    const { d, file } = await configDaemonIn(s, base);
    const alice = await aliceIn(s, d);

    // Before: 9... goes to GWA; a 10-digit number is no call class (not a 403).
    const r1 = await call(alice, '912345678');
    assert.equal(r1.final.status, 200, `call before the reload: ${showStatuses(r1)}`);
    assert.equal(gwA.invites().length, 1, 'GWA did not get the first call');
    await hangUp(alice, r1);
    const ld0 = await call(alice, '0212345678');
    assert.notEqual(ld0.final.status, 403, `10 digits before any call class: ${showStatuses(ld0)}`);

    const reason = `${kLdReason} (reloaded)`;
    const rl = await reload(d, file, {
      ...base,
      routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWB'] }],
      call_classes: [ldClass(reason)],
    });
    assert.equal(rl.outcome, 'reloaded', `SIGHUP log:\n${rl.log}`);

    const r2 = await call(alice, '912345678');
    assert.equal(r2.final.status, 200, `call after the reload: ${showStatuses(r2)}`);
    assert.equal(gwB.invites().length, 1, 'the new call did not reach GWB (the reloaded route)');
    assert.equal(gwA.invites().length, 1, 'the new call still went to GWA');
    await hangUp(alice, r2);

    const ld1 = await call(alice, '0212345678');
    assert.equal(ld1.final.status, 403, `10 digits after the reload: ${showStatuses(ld1)}`);
    assert.equal(ld1.final.reason, reason);
  }));

test('SIGHUP (c): a bad file (invalid call_classes[0].match, then routes naming an unknown gateway) is refused naming the key; the old configuration stays', (t) =>
  withScope(t, async (s) => {
    const gwA = await uasIn(s, 'GWA');
    const gwB = await uasIn(s, 'GWB');
    const base = {
      gateways: [gw('GWA', gwA.port), gw('GWB', gwB.port)],
      routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWA'] }],
      call_classes: [ldClass(kLdReason)],
    };
    const { d, file } = await configDaemonIn(s, base);
    const alice = await aliceIn(s, d);
    // Each bad file also changes the route and the reason, so a partial reload would show.
    const bad = [
      ['call_classes[0].match', {
        ...base,
        routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWB'] }],
        call_classes: [ldClass('changed by a bad file', '^[0-9{10}$')],
      }],
      ['routes[0].gateways', {
        ...base,
        routes: [{ match: '^9[0-9]{7,}$', gateways: ['GWB', 'NOPE'] }],
        call_classes: [ldClass('changed by a bad file')],
      }],
    ];
    for (const [key, config] of bad) {
      const rl = await reload(d, file, config);
      assert.equal(rl.outcome, 'refused', `${key}: SIGHUP log:\n${rl.log}`);
      const line = rl.log.split('\n').find((l) => /SIGHUP: configuration not reloaded/.test(l));
      assert.ok(line.includes(`'${key}'`), `the refusal does not name ${key}: ${line}`);
      t.diagnostic(line.replace(/^\S+ \S+ /, ''));
      assert.equal(d.proc.exitCode, null, `sipws exited after the bad file (${key})`);
      assert.doesNotMatch(rl.log, kReloaded);

      // Old behaviour: the old reason phrase, the old route.
      const ld = await call(alice, '0212345678');
      assert.equal(ld.final.status, 403, `after the bad file (${key}): ${showStatuses(ld)}`);
      assert.equal(ld.final.reason, kLdReason, `after the bad file (${key})`);
      const r = await call(alice, '912345678');
      assert.equal(r.final.status, 200, `after the bad file (${key}): ${showStatuses(r)}`);
      await hangUp(alice, r);
    }
    assert.equal(gwA.invites().length, bad.length, 'GWA (the old route) did not get every call');
    assert.equal(gwB.ep.received.length, 0, `GWB received:\n${gwB.ep.log()}`);

    // A good file after the bad ones is taken.
    const rl = await reload(d, file, { ...base, call_classes: [ldClass('good again')] });
    assert.equal(rl.outcome, 'reloaded', `SIGHUP log:\n${rl.log}`);
    const ld = await call(alice, '0212345678');
    assert.equal(ld.final.reason, 'good again', showStatuses(ld));
  }));

test('SIGHUP (d): a changed non-reloadable key (domains) is logged as "takes effect after a restart"; a reloadable one (gateway_timeout) is not', (t) =>
  withScope(t, async (s) => {
    // `domain` itself is --set by the harness, and --set wins over the file: `domains` is the
    // non-reloadable key the file controls here.
    const base = { domains: ['a.example'], gateway_timeout: 3 };
    const { d, file } = await configDaemonIn(s, base);
    const rl = await reload(d, file, { domains: ['a.example', 'b.example'], gateway_timeout: 2 });
    assert.equal(rl.outcome, 'reloaded', `SIGHUP log:\n${rl.log}`);
    assert.match(rl.log, /SIGHUP: key 'domains' changed; it takes effect after a restart/);
    assert.doesNotMatch(rl.log, /key 'gateway_timeout' changed/);
    assert.doesNotMatch(rl.log, /key '(?!domains')[^']*' changed/, 'an unchanged key was reported');
    assert.equal(d.proc.exitCode, null);
  }));

// ------------------------------------------------------------------ gateway probing

test('probing: silent GW1 (probe_interval 1) is marked down and skipped (only OPTIONS reach it); once it answers OPTIONS it is up and tried first again', (t) =>
  withScope(t, async (s) => {
    const gw1 = await uasIn(s, 'GW1', { answering: false });
    const gw2 = await uasIn(s, 'GW2');
    const d = await daemonIn(s, {
      extraSets: [
        // T1 50 ms: an unanswered OPTIONS times out (Timer F, 64*T1) after 3.2 s.
        'timer_t1=50',
        ...sets({
          gateways: [gw('GW1', gw1.port, 1, { probe_interval: 1 }), gw('GW2', gw2.port, 2)],
          routes: [{ match: '^9[0-9]{7,}$', gateways: ['GW1', 'GW2'], failover_on: [408, 503] }],
        }),
      ],
    });
    const alice = await aliceIn(s, d);

    await waitFor(async () => (await metric(d, 'gateway_down')) >= 1,
      { ms: 8000, intervalMs: 100, what: 'sipws_gateway_down >= 1 on /metrics' });
    await d.waitStderr(/gateway GW1 \(\S+\) is down: no answer to OPTIONS/);
    assert.ok(gw1.requests('OPTIONS').length >= 1, 'GW1 never got an OPTIONS probe');

    const r1 = await call(alice, '912345678');
    assert.equal(r1.final.status, 200, `call with GW1 down: ${showStatuses(r1)}`);
    // Straight to GW2: no gateway_timeout (3 s) spent on GW1 first.
    const took = r1.finalAt - r1.lastSentAt;
    assert.ok(took < 1500, `the call with GW1 down took ${Math.round(took)} ms`);
    assert.equal(gw2.invites().length, 1, 'GW2 did not get the call');
    assert.equal(gw1.invites().length, 0, 'GW1 (down) got an INVITE');
    const other = gw1.ep.received.filter((e) => e.msg.method !== 'OPTIONS');
    assert.equal(other.length, 0, `GW1 got more than OPTIONS:\n${gw1.ep.log()}`);
    await hangUp(alice, r1);

    gw1.answering = true;
    await waitFor(async () => (await metric(d, 'gateway_up')) >= 1,
      { ms: 8000, intervalMs: 100, what: 'sipws_gateway_up >= 1 on /metrics' });
    await d.waitStderr(/gateway GW1 \(\S+\) is up: OPTIONS answered 200/);

    const r2 = await call(alice, '912345678');
    assert.equal(r2.final.status, 200, `call with GW1 up again: ${showStatuses(r2)}`);
    assert.equal(gw1.invites().length, 1, 'GW1 (up again, priority 1) did not get the new call');
    assert.equal(gw2.invites().length, 1, 'the new call went to GW2');
    await hangUp(alice, r2);
    assert.equal(gw1.requests('BYE').length, 1, 'the BYE did not reach GW1');
  }));

// ------------------------------------------------------------------ start-up config errors

const kBadConfigs = [
  ['an invalid regex in call_classes[0].match', 'call_classes[0].match',
    { call_classes: [ldClass(kLdReason, '^[0-9{10}$')] }],
  ['a route naming an unknown gateway', 'routes[0].gateways',
    { gateways: [gw('GW1', 5099)], routes: [{ match: '^9', gateways: ['GW1', 'NOPE'] }] }],
  ['a voicemail template without {user}', 'voicemail.busy',
    { voicemail: { busy: 'sip:mailbox@127.0.0.1:5099' } }],
  ['an unknown field in a gateway object', 'gateways[0].pirority',
    { gateways: [{ name: 'GW1', uri: 'sip:127.0.0.1:5099;transport=udp', pirority: 1 }] }],
  ['foreign_callers "maybe"', 'foreign_callers', { foreign_callers: 'maybe' }],
];

for (const [what, key, config] of kBadConfigs) {
  test(`start-up: ${what} -> exit code 2 naming '${key}'`, (t) =>
    withScope(t, async (s) => {
      const dir = makeTempDir();
      s.tempDir(dir);
      const file = path.join(dir, 'bad.json');
      writeConfig(file, config);
      const [udp, admin] = await freePorts(2);
      // Ports and store of its own, in case it started anyway (then runCli kills it by PID).
      const r = await runCli([
        'run', '--config', file,
        '--set', `listen=udp:127.0.0.1:${udp}`,
        '--set', `admin_listen=127.0.0.1:${admin}`,
        '--set', `store=sqlite:${path.join(dir, 'sipws.db')}`,
      ], { ms: 5000 });
      s.log('sipws output', () => `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.code, 2, `exit code for ${what}`);
      assert.ok(r.stderr.includes(`config key '${key}'`), `stderr does not name '${key}':\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /sipws ready/);
      t.diagnostic(r.stderr.trim().split('\n')[0]);
    }));
}
