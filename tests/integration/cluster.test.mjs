// Cluster mode: two sipws nodes on one PostgreSQL (lib/db.mjs), node A on 127.0.0.1 and node B
// on 127.0.0.2 (loopback aliases), the same `cluster.secret`, each with its own `cluster.node`
// and `cluster.address` (its own UDP listen entry). Bindings live in the shared store with the
// node that owns them; a request for an AOR registered at another node is sent to that node,
// which sends it down its WebSocket; a node whose heartbeat stopped is dead, and a request for
// an AOR whose bindings are all on dead nodes gets 480 (or 430) at once.
//
// The test's own user agents are on other loopback addresses than the nodes (the nodes trust
// each other's addresses: a client on a node's address could be admitted as that node):
//   127.0.0.3  the SIPp phone (phone@localhost), registered at B over UDP with digest
//   127.0.0.4  callers (SIPp UAC, raw UDP): a trusted peer (`trusted_peers`, From
//              sip:sipp@example.net), as a trunk would be
//   127.0.0.6  the browser: JsSIP alice over WS with both nodes' URLs, A's first
//
// The story (the issue's text): alice registers at A; a caller's INVITE sent to B reaches alice
// on her WebSocket at A; alice calls the phone through A while the
// phone's binding is on B; A is killed (SIGKILL): within a few seconds B answers INVITEs to
// alice with 480/430 (a final answer at once, not a timeout); JsSIP reconnects to B (its second
// URL) and registers again, and a call sent to B reaches alice again.
//
// JsSIP's reconnection to B is held (the B socket's connect() waits for a gate) until B's 480
// was seen: otherwise JsSIP, reconnecting after 1-2 s, could register at B before B declared A
// dead, and the 480 would never be observable. JsSIP's own recovery logic still chooses B and
// re-registers by itself; the gate only delays the TCP connection.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { addUser, makeTempDir, metric, runCli } from './lib/daemon.mjs';
import { dbUnavailable, startPostgres } from './lib/db.mjs';
import { daemonIn, sippIn } from './lib/fixtures.mjs';
import { JsSIP, NodeWsSocket, kNoMedia, parseSip } from './lib/jssip.mjs';
import { clearTransactionTimers } from './lib/jssip-user.mjs';
import { freePort, freePorts } from './lib/ports.mjs';
import { SipClient, endpointIn, plainSdp } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, waitFor, withTimeout } from './lib/wait.mjs';

const kHostA = '127.0.0.1';
const kHostB = '127.0.0.2';
const kPhoneHost = '127.0.0.3';
const kCallerHost = '127.0.0.4';
const kBrowserHost = '127.0.0.6';
const kSecret = 'cluster-secret-of-the-integration-test';
/** The bound on "B answers 480/430 after A's death" (the contract: ~3-4 s). */
const kDeadNodeMs = 10000;

/** The skip reason (false when PostgreSQL can run here); throws when SIPWS_REQUIRE_DB=1. */
function skipUnlessPostgres() {
  const why = dbUnavailable('postgresql');
  if (why && process.env.SIPWS_REQUIRE_DB === '1') {
    throw new Error(`${why} (SIPWS_REQUIRE_DB=1: a database server is required)`);
  }
  return why || false;
}

/**
 * The callers' `trusted_peers` entry: UDP from 127.0.0.4 with From sip:sipp@example.net (the
 * From of the uac_*.xml scenarios and of the raw caller), local users only (fixtures.mjs's
 * sippPeer() at another address).
 */
const kCallerPeer = {
  name: 'sipp-caller',
  source: kCallerHost,
  transport: 'udp',
  from: '^sip:sipp@example\\.net$',
  relay: false,
};

/** `cluster` key value of node `node` whose UDP listener is `host`:`udpPort`. */
function clusterKey(node, host, udpPort, secret = kSecret) {
  return JSON.stringify({ node, address: `sip:${host}:${udpPort};transport=udp`, secret });
}

/** Free {udp, tcp, ws, wss, admin} ports, known before the daemon starts (cluster.address). */
async function nodePorts() {
  const [udp, tcp, ws, wss, admin] = await freePorts(5);
  return { udp, tcp, ws, wss, admin };
}

/**
 * A NodeWsSocket whose connect() waits, while `held`, until release(): JsSIP's transport sees a
 * connection attempt in progress (isConnecting) and waits for it as for a slow network.
 */
class HeldSocket extends NodeWsSocket {
  constructor(url, wsOptions) {
    super(url, wsOptions);
    this.held = true;
    this.pending = false;
    this.connectCalls = 0;
  }
  connect() {
    this.connectCalls += 1;
    if (this.held) {
      this.pending = true;
      return;
    }
    super.connect();
  }
  isConnecting() {
    return this.pending || super.isConnecting();
  }
  disconnect() {
    this.pending = false;
    super.disconnect();
  }
  release() {
    this.held = false;
    if (this.pending) {
      this.pending = false;
      super.connect();
    }
  }
}

/** Requests (method) and responses (status + CSeq) of a socket's messages, one a line. */
function summary(messages) {
  return messages.map((m) => {
    const p = parseSip(m);
    return p.status ? `${p.status} (${p.cseq})` : `${p.method} (${p.cseq})`;
  }).join(', ');
}

/**
 * Every table of database `db` (but subscriber) with its first 50 rows, for a failure message:
 * bindings, heartbeats and whatever the cluster keeps there.
 */
async function storeDump(server, db) {
  let out = '';
  try {
    const tables = (await server.exec(db,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' " +
      'ORDER BY table_name')).split('\n').filter(Boolean);
    for (const t of tables) {
      if (t === 'subscriber') continue;
      const rows = await server.exec(db, `SELECT * FROM "${t}" LIMIT 50`).catch((e) => e.message);
      out += `\n[${t}]\n${rows}`;
    }
  } catch (err) {
    out += `\n(cannot dump the store: ${err.message})`;
  }
  return `\n--- shared store at the failure ---${out}`;
}

let shared = null; // the PostgreSQL server of this file, started by the first test needing it
after(async () => {
  if (shared) await (await shared).close();
});

/** The file's PostgreSQL server (started once, closed after the last test). */
function postgres() {
  if (!shared) shared = startPostgres(makeTempDir('sipws-db-'));
  return shared;
}

test('cluster config: check-config takes a cluster whose address is one of the node\'s own ' +
  'listen entries, and refuses another address or a short secret (exit 2 naming the key)', (t) =>
  withScope(t, async (s) => {
    const dir = makeTempDir('sipws-cluster-config-');
    s.tempDir(dir);
    const file = path.join(dir, 'sipws.json');
    fs.writeFileSync(file, '{}\n');
    const [udp, tcp, other] = await freePorts(3);
    const base = ['check-config', file, '--set', `listen=udp:${kHostA}:${udp},tcp:${kHostA}:${tcp}`,
      '--set', 'domain=localhost',
      // check-config does not open the store; a server store is what a cluster shares.
      '--set', 'store=postgresql://sipws:pw@127.0.0.1:1/sipws'];
    const run = (cluster) => runCli([...base, '--set', `cluster=${cluster}`]);

    let r = await run(clusterKey('a', kHostA, udp));
    assert.equal(r.code, 0, `a valid cluster key (UDP listen entry): exit ${r.code}\n${r.stderr}`);
    r = await run(JSON.stringify({ node: 'a', address: `sip:${kHostA}:${tcp};transport=tcp`,
      secret: kSecret }));
    assert.equal(r.code, 0, `a valid cluster key (TCP listen entry): exit ${r.code}\n${r.stderr}`);

    r = await run(clusterKey('a', kHostA, other));
    assert.equal(r.code, 2, `cluster.address on a port this node does not listen on: exit ${r.code}`);
    assert.match(r.stderr, /cluster/, r.stderr);
    r = await run(clusterKey('a', kHostB, udp));
    assert.equal(r.code, 2, `cluster.address on another IP: exit ${r.code}`);
    assert.match(r.stderr, /cluster/, r.stderr);
    r = await run(clusterKey('a', kHostA, udp, 'fifteen-chars..'));
    assert.equal(r.code, 2, `a 15-character cluster.secret: exit ${r.code}`);
    assert.match(r.stderr, /cluster/, r.stderr);
  }));

test('two nodes on one PostgreSQL: a browser at A is reached through B, calls a phone ' +
  'registered at B through A; A killed: 480/430 from B within seconds; JsSIP moves to B and ' +
  'is reached again', { skip: skipUnlessPostgres(), timeout: 240000 }, (t) =>
  withScope(t, async (s) => {
    const timeline = [];
    const t0 = performance.now();
    const mark = (what) => timeline.push(`+${Math.round(performance.now() - t0)} ms ${what}`);
    s.log('timeline', () => timeline.join('\n'));

    // 1. PostgreSQL, a database, the subscribers (CLI against the shared store).
    const server = await postgres();
    s.log('PostgreSQL log', () => server.log(60));
    const store = await server.createDatabase();
    const db = store.slice(store.lastIndexOf('/') + 1);
    await addUser(store, 'alice@localhost', 'secret');
    await addUser(store, 'phone@localhost', 'secret');
    mark('store ready, users added');

    let step = 'start';
    try {
      // 2. Node A (127.0.0.1) and node B (127.0.0.2): same store and secret, own ports.
      step = 'starting the nodes';
      const portsA = await nodePorts();
      const portsB = await nodePorts();
      const common = { store, trustedPeers: [kCallerPeer] };
      const A = await daemonIn(s, { ...common, host: kHostA, ports: portsA,
        extraSets: [`cluster=${clusterKey('a', kHostA, portsA.udp)}`] });
      mark(`node A ready (pid ${A.pid})`);
      const B = await daemonIn(s, { ...common, host: kHostB, ports: portsB,
        extraSets: [`cluster=${clusterKey('b', kHostB, portsB.udp)}`] });
      mark(`node B ready (pid ${B.pid})`);
      const udpB = `${kHostB}:${portsB.udp}`;
      // A node trusts the others' addresses once it has read their heartbeats (every 1 s): B
      // may be ready before A saw it. Wait until each logged the other (`cluster: node N at
      // ADDR`), or a request between them can be refused as coming from a stranger.
      const escape = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const sees = (d, node, host, port) =>
        new RegExp(`cluster: node ${node} at ${escape(`sip:${host}:${port}`)}`).test(d.stderr());
      await waitFor(() => sees(A, 'b', kHostB, portsB.udp) && sees(B, 'a', kHostA, portsA.udp), {
        ms: 10000, what: 'each node to log the other\'s heartbeat (\'cluster: node N at ADDR\')',
      });
      mark('the nodes see each other');

      // 3. alice: JsSIP with both WebSocket URLs, A's first (higher weight: JsSIP picks it
      //    first; A's socket failing, its recovery takes B's).
      step = 'alice registering at A';
      const wsOptions = { localAddress: kBrowserHost };
      const sockA = new NodeWsSocket(`ws://${kHostA}:${portsA.ws}`, wsOptions);
      const sockB = new HeldSocket(`ws://${kHostB}:${portsB.ws}`, wsOptions);
      const ua = new JsSIP.UA({
        sockets: [{ socket: sockA, weight: 2 }, { socket: sockB, weight: 1 }],
        uri: 'sip:alice@localhost',
        password: 'secret',
        register: true,
        register_expires: 300,
        session_timers: false,
        connection_recovery_min_interval: 1,
        connection_recovery_max_interval: 2,
        user_agent: 'sipws-integration-jssip',
      });
      for (const [name, sock] of [['A', sockA], ['B', sockB]]) {
        s.log(`JsSIP alice, socket to node ${name} (${sock.url}): messages received`, () =>
          sock.received.map((m) => m.split('\r\n\r\n')[0]).join('\n\n'));
        s.log(`JsSIP alice, socket to node ${name}: summary`, () =>
          `sent: ${summary(sock.sent)}\nreceived: ${summary(sock.received)}`);
      }
      const transactions = new Set();
      ua.on('newTransaction', ({ transaction }) => transactions.add(transaction));
      for (const ev of ['connected', 'disconnected', 'registered', 'unregistered',
        'registrationFailed']) {
        ua.on(ev, (e) => mark(`JsSIP ${ev}${e?.socket?.url ? ` (${e.socket.url})` : ''}` +
          `${e?.cause ? `: ${e.cause}` : ''}`));
      }
      s.defer(async () => {
        try {
          const unregistered = ua.isRegistered()
            ? waitEvent(ua, 'unregistered', { ms: 2000 }).catch(() => {})
            : null;
          ua.stop();
          await unregistered;
        } catch {}
        sockA.disconnect();
        sockB.disconnect();
        clearTransactionTimers(transactions);
      });

      // alice answers every call; each call's events are recorded, and once JsSIP saw the ACK
      // it sends an INFO that the SIPp caller waits for before its BYE (uac_call_info.xml).
      const calls = [];
      const callWaiters = [];
      ua.on('newRTCSession', ({ originator, session, request }) => {
        if (originator !== 'remote') return;
        const call = { session, from: request.from.uri.toString(), events: [] };
        call.ended = waitEvent(session, 'ended', { ms: 30000, failOn: ['failed'] });
        call.ended.catch(() => {});
        session.on('accepted', () => call.events.push('accepted'));
        session.on('confirmed', () => {
          call.events.push('confirmed');
          session.sendInfo('application/x-sipws-test', 'confirmed');
        });
        session.on('ended', (e) => call.events.push(`ended ${e.originator} ${e.cause}`));
        session.on('failed', (e) => call.events.push(`failed ${e.originator} ${e.cause}`));
        mark(`alice: incoming call from ${call.from}`);
        session.answer(kNoMedia);
        calls.push(call);
        const w = callWaiters.shift();
        if (w) w(call);
      });
      // The next incoming call (ask before the caller starts: calls come one at a time).
      const nextCall = () => new Promise((resolve) => callWaiters.push(resolve));
      s.log('alice\'s calls', () => calls.map((c) => `${c.from}: ${c.events.join(', ')}`).join('\n'));

      const registeredAtA = waitEvent(ua, 'registered', { ms: 15000, failOn: ['registrationFailed'] });
      ua.start();
      await registeredAtA;
      const regA = sockA.received.map(parseSip).filter((m) => /REGISTER$/.test(m.cseq));
      assert.ok(regA.some((m) => m.status === 401), 'alice\'s REGISTER at A was not challenged');
      assert.ok(regA.some((m) => m.status === 200), 'no 200 to alice\'s REGISTER on A\'s socket');
      assert.equal(sockB.connectCalls, 0, 'JsSIP tried B while A served');

      // 4. The phone registers at B (UDP, digest) from 127.0.0.3.
      step = 'the phone registering at B';
      const phonePort = await freePort();
      const reg = await sippIn(s, 'phone REGISTER at B', {
        scenario: 'register.xml',
        host: kPhoneHost,
        port: phonePort,
        remote: udpB,
        keys: { aor_user: 'phone', aor_domain: 'localhost' },
        args: ['-au', 'phone', '-ap', 'secret'],
      });
      const rr = await withTimeout(reg.done, 25000, 'SIPp REGISTER exit');
      assert.equal(rr.code, 0, 'the phone did not register at B (401, then 200 with its contact)');
      mark('phone registered at B');

      /**
       * A SIPp caller (127.0.0.4, trusted peer) sends INVITE sip:alice@localhost to B; alice
       * must get it on `sock` and the call must complete (ACK, INFO, BYE).
       */
      const callAliceThroughB = async (label, sock) => {
        const before = sock.received.length;
        const incoming = nextCall();
        const uac = await sippIn(s, label, {
          scenario: 'uac_call_info.xml',
          host: kCallerHost,
          port: await freePort(),
          remote: udpB,
          keys: { target_uri: 'sip:alice@localhost' },
        });
        mark(`${label}: SIPp INVITE sent to B`);
        const call = await withTimeout(incoming, 10000,
          `${label}: alice's incoming call (the INVITE sent to B)`);
        await call.ended.catch((err) => {
          err.message += `\n${label}: alice's events: ${call.events.join(', ')}`;
          throw err;
        });
        const r = await withTimeout(uac.done, 25000, `${label}: SIPp UAC exit`);
        assert.equal(r.code, 0, `${label}: the SIPp caller did not complete the call`);
        assert.equal(call.from, 'sip:sipp@example.net');
        for (const ev of ['accepted', 'confirmed']) {
          assert.ok(call.events.includes(ev), `${label}: alice did not see '${ev}': ${call.events}`);
        }
        assert.match(call.events.at(-1), /^ended remote/, `${label}: the BYE came from SIPp`);
        assert.ok(sock.received.slice(before).map(parseSip).some((m) => m.method === 'INVITE'),
          `${label}: the INVITE did not arrive on ${sock.url}`);
        mark(`${label}: complete`);
      };

      // 5. INVITE to alice sent to B: B sends it to A, A down alice's WebSocket.
      step = 'a call to alice sent to B (alice at A)';
      await callAliceThroughB('call 1 to alice through B', sockA);

      // 6. alice calls the phone through A; the phone's binding is on B.
      step = 'alice calling the phone through A (phone at B)';
      const phone = await sippIn(s, 'phone UAS (registered at B)', {
        scenario: 'uas_call.xml',
        host: kPhoneHost,
        port: phonePort,
      });
      const seen = [];
      const session = ua.call('sip:phone@localhost', {
        ...kNoMedia,
        eventHandlers: {
          progress: (e) => seen.push(`progress ${e.response?.status_code}`),
          accepted: (e) => seen.push(`accepted ${e.response?.status_code}`),
          confirmed: () => {
            seen.push('confirmed');
            session.terminate(); // hang up once the ACK is out: BYE through A and B
          },
          ended: (e) => seen.push(`ended ${e.originator} ${e.cause}`),
          failed: (e) => seen.push(`failed ${e.originator} ${e.cause} ${e.message?.status_code}`),
        },
      });
      await waitEvent(session, 'ended', { ms: 20000, failOn: ['failed'] }).catch((err) => {
        err.message += `\nJsSIP events of alice's call to the phone: ${seen.join(', ')}`;
        throw err;
      });
      const pr = await withTimeout(phone.done, 25000, 'phone UAS exit');
      assert.equal(pr.code, 0, 'the phone (SIPp UAS) did not complete the call');
      for (const ev of ['accepted 200', 'confirmed']) {
        assert.ok(seen.includes(ev), `alice's call to the phone: no '${ev}': ${seen.join(', ')}`);
      }
      assert.match(seen.at(-1), /^ended local/, `alice's call to the phone: ${seen.join(', ')}`);
      mark('alice -> phone: complete');

      // 7. A dies (SIGKILL). B must answer INVITEs to alice (bindings only on dead A) with a
      //    final 480/430 within a few seconds.
      step = 'node A killed: waiting for B\'s 480/430';
      assert.equal(await metric(B, 'cluster_nodes_alive'), 2, 'B sees 2 nodes before the kill');
      const disconnected = waitEvent(ua, 'disconnected', { ms: 10000 });
      process.kill(A.pid, 'SIGKILL');
      const ex = await withTimeout(A.exited, 10000, 'node A to exit after SIGKILL');
      const killedAt = performance.now();
      mark(`node A killed (${ex.signal})`);
      await disconnected;
      assert.equal(ua.isRegistered(), false, 'JsSIP still registered after its socket closed');

      const caller = new SipClient(await endpointIn(s, 'raw caller', { host: kCallerHost }), {
        server: { host: kHostB, port: portsB.udp },
        user: 'sipp',
        fromUri: 'sip:sipp@example.net',
      });
      // An INVITE still sent to A gets no answer while B has not declared A dead: each try
      // waits 1 s for a final answer (a 480 comes in milliseconds), then a new one is sent.
      const inviteAlice = (ms = 1000) => caller.request('INVITE', 'sip:alice@localhost', {
        body: plainSdp(kCallerHost), ms,
      });
      const attempts = [];
      const statuses = [];
      let rejected = null;
      await waitFor(async () => {
        const sent = performance.now();
        const r = await inviteAlice().catch((err) => ({ error: err.message }));
        const at = Math.round(sent - killedAt);
        if (r.error) {
          attempts.push(`+${at} ms: no final answer in 1 s (${r.error.split('\n')[0]})`);
          return false;
        }
        statuses.push(...r.statuses);
        attempts.push(`+${at} ms: ${r.statuses.join(' ')} in ${Math.round(r.finalAt - r.lastSentAt)} ms`);
        if (r.final.status === 480 || r.final.status === 430) {
          rejected = r;
          return true;
        }
        return false;
      }, { ms: kDeadNodeMs, intervalMs: 250, what: 'B to answer an INVITE to alice with 480/430' })
        .catch((err) => {
          err.message += `\nINVITEs to alice after A's death (time since the kill):\n` +
            attempts.join('\n');
          throw err;
        });
      const detectMs = Math.round(rejected.finalAt - killedAt);
      mark(`B answered ${rejected.final.status} ${detectMs} ms after the kill; attempts: ` +
        attempts.join('; '));
      t.diagnostic(`B answered ${rejected.final.first} ${detectMs} ms after A was killed ` +
        `(INVITEs since the kill: ${attempts.join('; ')})`);
      const from = rejected.responses.at(-1).entry.rinfo;
      assert.equal(from.address, kHostB, 'the 480/430 did not come from node B');
      assert.ok(!statuses.includes(200), `an INVITE to alice was answered: ${attempts.join('; ')}`);
      // A quick final answer now, not a transaction timing out.
      const again = await inviteAlice(5000);
      const tookMs = Math.round(again.finalAt - again.lastSentAt);
      assert.ok(again.final.status === 480 || again.final.status === 430,
        `another INVITE to alice: ${again.statuses.join(' ')}`);
      assert.ok(tookMs < 1000, `B took ${tookMs} ms to answer ${again.final.status}`);
      assert.equal(await metric(B, 'cluster_nodes_alive'), 1, 'B still counts A alive');

      // 8. JsSIP's recovery goes to B (A's socket failed): released, it connects and
      //    registers there by itself; a call sent to B reaches alice again, on B's socket.
      step = 'JsSIP reconnecting to B';
      await waitFor(() => sockB.pending, {
        ms: 10000, what: 'JsSIP to try its second URL (node B) after A\'s socket closed',
      });
      mark('JsSIP connecting to B (held until now)');
      const registeredAtB = waitEvent(ua, 'registered', { ms: 15000, failOn: ['registrationFailed'] });
      sockB.release();
      await registeredAtB;
      assert.ok(sockB.sent.map(parseSip).some((m) => m.method === 'REGISTER'),
        'alice\'s new REGISTER did not go to B');
      assert.ok(sockB.received.map(parseSip).some((m) => m.status === 200 &&
        /REGISTER$/.test(m.cseq)), 'no 200 to alice\'s REGISTER at B');

      step = 'a call to alice sent to B (alice now at B)';
      await callAliceThroughB('call 2 to alice through B', sockB);
    } catch (err) {
      err.message = `[${step}] ${err.message}${await storeDump(server, db)}`;
      throw err;
    }
  }));
