// RFC 7118 s.7 handshake authentication against the real daemon (`--set ws_auth=...`):
// (cookie) POST /login over HTTPS, JsSIP registers and calls with the session cookie on the
//          upgrade (no SIP digest challenge: the flow's identity stands); no or a forged cookie
//          is refused; a REGISTER for another user on the authenticated flow gets 403.
// (digest) a raw `ws` client answers the 401 of the upgrade (HTTP Digest, RFC 7616), retries
//          after the stale=true of the credential-cache miss, and gets the upgrade.
// (off)    /login is not served; the upgrade needs nothing (the other files test the rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { Agent, fetch } from 'undici';
import { makeTempDir, runCli } from './lib/daemon.mjs';
import { daemonIn, uaIn } from './lib/fixtures.mjs';
import { kNoMedia, parseSip } from './lib/jssip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, withTimeout } from './lib/wait.mjs';

/** An HTTPS client that trusts exactly this daemon's development certificate. */
function devCertAgent(d) {
  const ca = fs.readFileSync(path.join(d.dir, 'var', 'certs', 'sipws-dev.crt'));
  return new Agent({ connect: { ca } });
}

/** POST /login on the WSS port; resolves {status, setCookie, cookie, body}. */
async function login(d, user, password, { agent } = {}) {
  const dispatcher = agent || devCertAgent(d);
  const res = await fetch(`https://127.0.0.1:${d.ports.wss}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, password }),
    dispatcher,
    signal: AbortSignal.timeout(5000),
  });
  const setCookie = res.headers.get('set-cookie') || '';
  const body = await res.text();
  return { status: res.status, setCookie, cookie: setCookie.split(';')[0], body };
}

/** Opens a WebSocket offering `sip`; resolves {ws} on open, or {status, headers} if refused. */
function connect(url, headers = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'sip', { rejectUnauthorized: false, handshakeTimeout: 5000, headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, headers: res.headers });
      req.destroy();
    });
    ws.once('error', (error) => resolve({ error }));
  });
}

/** The first SIP response that arrives on `ws`, parsed. */
function nextResponse(ws, ms = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      const on = (data) => {
        const m = parseSip(data.toString());
        if (m.status) {
          ws.off('message', on);
          resolve(m);
        }
      };
      ws.on('message', on);
    }),
    ms,
    'a SIP response on the WebSocket',
  );
}

function register(aorUser, { fromUser = aorUser, proto = 'WS' } = {}) {
  const id = crypto.randomBytes(6).toString('hex');
  return [
    'REGISTER sip:localhost SIP/2.0',
    `Via: SIP/2.0/${proto} ${id}.invalid;branch=z9hG4bK${id}`,
    'Max-Forwards: 70',
    `To: <sip:${aorUser}@localhost>`,
    `From: <sip:${fromUser}@localhost>;tag=${id}`,
    `Call-ID: ${id}`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:${id}@${id}.invalid;transport=ws>`,
    'Expires: 60',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The Digest challenges of a WWW-Authenticate field ("Digest a=.., Digest b=.."). */
function challenges(field) {
  return field.split(/,\s*(?=Digest\s)/).map((c) => {
    const params = {};
    for (const m of c.replace(/^Digest\s+/, '').matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)) {
      params[m[1]] = m[2] ?? m[3];
    }
    return params;
  });
}

/** Authorization for `GET uri` answering challenge `c` (RFC 7616 s.3.4, qop=auth). */
function digestAuthorization(c, user, password, uri = '/') {
  const alg = c.algorithm === 'SHA-256' ? 'sha256' : 'md5';
  const h = (s) => crypto.createHash(alg).update(s).digest('hex');
  const cnonce = crypto.randomBytes(8).toString('hex');
  const nc = '00000001';
  const ha1 = h(`${user}:${c.realm}:${password}`);
  const response = h(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${h(`GET:${uri}`)}`);
  return (
    `Digest username="${user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", ` +
    `algorithm=${c.algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`
  );
}

test('(cookie) POST /login over HTTPS sets a secure session cookie; wrong password is 401', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: ['ws_auth=cookie'] });
    await d.addUser('alice@localhost', 'secret');
    const ok = await login(d, 'alice', 'secret');
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.setCookie, /^sipws_session=[A-Za-z0-9_-]+; HttpOnly; Secure; SameSite=Strict; Path=\/; Max-Age=43200$/);
    assert.equal(JSON.parse(ok.body).aor, 'alice@localhost');
    const bad = await login(d, 'alice', 'wrong');
    assert.equal(bad.status, 401);
    assert.equal(bad.setCookie, '');
    // The key was generated beside the store, owner-only.
    const st = fs.statSync(path.join(d.dir, 'ws_auth.key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.size, 32);
  }));

test('(cookie) JsSIP with the session cookie registers and calls; no SIP digest challenge', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: ['ws_auth=cookie'] });
    await d.addUser('alice@localhost', 'secret');
    await d.addUser('bob@localhost', 'b0b');
    const agent = devCertAgent(d);
    const a = await login(d, 'alice', 'secret', { agent });
    const b = await login(d, 'bob', 'b0b', { agent });
    assert.equal(a.status, 200, a.body);
    assert.equal(b.status, 200, b.body);

    // No password given to JsSIP: a SIP digest challenge would fail the registration.
    const alice = uaIn(s, { proto: 'wss', port: d.ports.wss, user: 'alice', wsOptions: { headers: { Cookie: a.cookie } } });
    const bob = uaIn(s, { proto: 'wss', port: d.ports.wss, user: 'bob', wsOptions: { headers: { Cookie: b.cookie } } });
    const registered = [alice, bob].map((ua) => waitEvent(ua, 'registered', { failOn: ['registrationFailed'] }));
    alice.start();
    bob.start();
    await Promise.all(registered);

    const answered = new Promise((resolve) => {
      bob.on('newRTCSession', ({ originator, session }) => {
        if (originator !== 'remote') return;
        session.answer(kNoMedia);
        resolve(session);
      });
    });
    const seen = [];
    const call = alice.call('sip:bob@localhost', {
      ...kNoMedia,
      eventHandlers: {
        confirmed: () => {
          seen.push('confirmed');
          call.terminate();
        },
        ended: (e) => seen.push(`ended:${e.originator}`),
        failed: (e) => seen.push(`failed:${e.cause}`),
      },
    });
    await withTimeout(answered, 10000, 'bob gets the INVITE');
    await waitEvent(call, 'ended', { ms: 15000, failOn: ['failed'] }).catch((err) => {
      err.message += `\nJsSIP events: ${JSON.stringify(seen)}`;
      throw err;
    });
    assert.deepEqual(seen, ['confirmed', 'ended:local']);
    const statuses = alice.socket.received.map(parseSip).map((m) => m.status).filter(Boolean);
    assert.ok(!statuses.includes(401) && !statuses.includes(407), `challenged: ${statuses}`);
  }));

test('(cookie) the upgrade without or with a forged cookie is refused; the flow is bound', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: ['ws_auth=cookie'] });
    await d.addUser('alice@localhost', 'secret');
    const url = `wss://127.0.0.1:${d.ports.wss}`;
    const none = await connect(url);
    assert.equal(none.status, 403);
    const forged = await connect(url, { Cookie: 'sipws_session=YWxpY2VAbG9jYWxob3N0fDk5OTk5OTk5OTl8AAAA' });
    assert.equal(forged.status, 403);
    // The plain ws:// listener refuses as well.
    assert.equal((await connect(`ws://127.0.0.1:${d.ports.ws}`)).status, 403);

    const a = await login(d, 'alice', 'secret');
    const r = await connect(url, { Cookie: a.cookie });
    assert.ok(r.ws, `upgrade with the cookie failed: ${r.status ?? r.error}`);
    s.defer(() => r.ws.terminate());
    // A REGISTER for another user on alice's flow: 403 naming the mismatch.
    r.ws.send(register('bob', { fromUser: 'alice', proto: 'WSS' }));
    let m = await nextResponse(r.ws);
    assert.equal(m.status, 403);
    assert.match(m.first, /To does not match the WebSocket identity/);
    r.ws.send(register('bob', { proto: 'WSS' }));
    m = await nextResponse(r.ws);
    assert.equal(m.status, 403);
    assert.match(m.first, /From does not match the WebSocket identity/);
    // Her own AOR registers at once (auth=digest, but the flow proved who she is).
    r.ws.send(register('alice', { proto: 'WSS' }));
    m = await nextResponse(r.ws);
    assert.equal(m.status, 200, m.first);
  }));

test('(digest) a raw ws client answers the 401 of the upgrade (stale=true on a cache miss) and gets in', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: ['ws_auth=digest'] });
    await d.addUser('alice@localhost', 'secret');
    const url = `ws://127.0.0.1:${d.ports.ws}/`;
    let r = await connect(url);
    assert.equal(r.status, 401);
    let cs = challenges(r.headers['www-authenticate']);
    assert.deepEqual(cs.map((c) => c.algorithm), ['SHA-256', 'MD5']);
    assert.equal(cs[0].realm, 'localhost');
    assert.equal(cs[0].qop, 'auth');

    // Good credentials: the cold credential cache answers stale=true first (RFC 7616 s.3.3),
    // the retry with the fresh nonce opens.
    const statuses = [];
    let opened = null;
    for (let attempt = 0; attempt < 4 && !opened; attempt++) {
      const md5 = cs.find((c) => c.algorithm === 'MD5');
      r = await connect(url, { Authorization: digestAuthorization(md5, 'alice', 'secret') });
      if (r.ws) {
        opened = r.ws;
        break;
      }
      statuses.push(r.status);
      assert.equal(r.status, 401);
      cs = challenges(r.headers['www-authenticate']);
      assert.equal(cs[0].stale, 'true', 'a retry with good credentials is only refused as stale');
    }
    assert.ok(opened, `no upgrade after ${statuses.length} tries: ${statuses}`);
    s.defer(() => opened.terminate());
    assert.ok(statuses.length >= 1, 'the first credentials of a cold cache get stale=true');

    opened.send(register('bob', { fromUser: 'alice' }));
    const m = await nextResponse(opened);
    assert.equal(m.status, 403);
    assert.match(m.first, /To does not match the WebSocket identity/);

    // Wrong password (alice is cached now): a plain, non-stale challenge.
    const wrong = await connect(url, { Authorization: digestAuthorization(cs[1], 'alice', 'nope') });
    assert.equal(wrong.status, 401);
    assert.notEqual(challenges(wrong.headers['www-authenticate'])[0].stale, 'true');
  }));

test('(digest) JsSIP in Node upgrades with HTTP Digest credentials and registers without a SIP challenge', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: ['ws_auth=digest'] });
    await d.addUser('alice@localhost', 'secret');
    const url = `ws://127.0.0.1:${d.ports.ws}/`;
    // Warm the credential cache: the first good answer of a cold cache is refused as stale.
    let cs = challenges((await connect(url)).headers['www-authenticate']);
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await connect(url, { Authorization: digestAuthorization(cs.find((c) => c.algorithm === 'MD5'), 'alice', 'secret') });
      if (r.ws) {
        r.ws.terminate();
        break;
      }
      cs = challenges(r.headers['www-authenticate']);
    }
    // A fresh challenge answered once, by JsSIP's WebSocket (the socket sends the header on its
    // upgrade as a browser would after the user typed the password into its HTTP auth prompt).
    cs = challenges((await connect(url)).headers['www-authenticate']);
    const authorization = digestAuthorization(cs.find((c) => c.algorithm === 'SHA-256'), 'alice', 'secret');
    // No SIP password: a SIP digest challenge would fail the registration.
    const alice = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', wsOptions: { headers: { Authorization: authorization } } });
    const registered = waitEvent(alice, 'registered', { failOn: ['registrationFailed'] });
    alice.start();
    await registered;
    assert.doesNotMatch(d.stderr(), /SIP\/2\.0 401 /, 'a SIP challenge was sent on the authenticated flow');
  }));

test('(off) no /login endpoint; the upgrade needs no credentials', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    const res = await login(d, 'alice', 'secret');
    assert.ok([404, 405].includes(res.status), `POST /login with ws_auth=off: ${res.status}`);
    const r = await connect(`ws://127.0.0.1:${d.ports.ws}`);
    assert.ok(r.ws, `upgrade refused: ${r.status ?? r.error}`);
    r.ws.terminate();
  }));

test('(config) a damaged ws_auth.key stops start-up with exit 2 naming ws_auth_secret', (t) =>
  withScope(t, async (s) => {
    const dir = makeTempDir();
    s.tempDir(dir);
    fs.writeFileSync(path.join(dir, 'ws_auth.key'), 'short', { mode: 0o600 });
    const r = await runCli([
      'run',
      '--set', `store=sqlite:${path.join(dir, 'sipws.db')}`,
      '--set', 'listen=ws:127.0.0.1:0',
      '--set', 'admin_listen=127.0.0.1:0',
      '--set', 'ws_auth=cookie',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config key 'ws_auth_secret'/);
    assert.match(r.stderr, /ws_auth\.key/);
  }));
