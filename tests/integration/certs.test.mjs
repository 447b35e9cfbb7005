// certs/make-dev-ca.sh and sipws's `tls_cert` / `tls_key`: the script makes a development CA
// and a certificate for localhost / 127.0.0.1 signed by it; sipws serves WSS with that
// certificate; a client that trusts only that CA (rejectUnauthorized) connects, one without the
// CA, or asking for a name the certificate does not carry, is refused by TLS verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { makeTempDir, repoRoot } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { withScope } from './lib/scope.mjs';

const script = path.join(repoRoot, 'certs', 'make-dev-ca.sh');

/** Runs make-dev-ca.sh ARGS (60 s max); resolves {code, stdout, stderr}. */
function makeDevCa(args) {
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { timeout: 60000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A temp dir for this test (removed if it passes) with a CA and a server certificate. */
async function caIn(s, names) {
  const dir = makeTempDir('sipws-certs-');
  s.tempDir(dir);
  const out = path.join(dir, 'ca');
  const r = await makeDevCa(['-o', out, ...names]);
  assert.equal(r.code, 0, `make-dev-ca.sh exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return out;
}

/** Always 127.0.0.1, so that "localhost" cannot go to ::1 where nothing listens. */
function lookupLoopback(hostname, options, cb) {
  if (options && options.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}

/**
 * Opens a WSS connection with TLS verification on; resolves {ws, fingerprint} on open or
 * {error} when the handshake fails.
 */
function connect(url, tls) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'sip', {
      handshakeTimeout: 5000,
      rejectUnauthorized: true,
      lookup: lookupLoopback,
      ...tls,
    });
    ws.once('upgrade', (res) => {
      ws.fingerprint = res.socket.getPeerCertificate().fingerprint256;
    });
    ws.once('open', () => resolve({ ws, fingerprint: ws.fingerprint, protocol: ws.protocol }));
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode });
      req.destroy();
    });
    ws.once('error', (error) => resolve({ error }));
  });
}

// Errors of certificate path validation as Node reports them (no trusted issuer).
const kUntrusted = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

test('certs: make-dev-ca.sh makes a CA and a certificate that sipws serves on WSS', (t) =>
  withScope(t, async (s) => {
    const out = await caIn(s, ['localhost', '127.0.0.1']);
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'server-fullchain.crt']) {
      assert.ok(fs.existsSync(path.join(out, f)), `${f} was not written`);
    }
    assert.equal(fs.statSync(path.join(out, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(out, 'server.key')).mode & 0o777, 0o600);
    const ca = fs.readFileSync(path.join(out, 'ca.crt'));
    const leaf = new crypto.X509Certificate(fs.readFileSync(path.join(out, 'server.crt')));
    assert.ok(leaf.checkIssued(new crypto.X509Certificate(ca)), 'server.crt is not issued by ca.crt');
    assert.match(leaf.subjectAltName, /DNS:localhost/);
    assert.match(leaf.subjectAltName, /IP Address:127\.0\.0\.1/);

    const d = await daemonIn(s, {
      extraSets: [
        `tls_cert=${path.join(out, 'server-fullchain.crt')}`,
        `tls_key=${path.join(out, 'server.key')}`,
      ],
    });
    const port = d.ports.wss;

    // Trusting only the CA: by IP address (subjectAltName IP) and by name (DNS), the
    // certificate presented is the one the script made.
    for (const host of ['127.0.0.1', 'localhost']) {
      const r = await connect(`wss://${host}:${port}/`, { ca: [ca] });
      assert.ok(r.ws, `wss://${host} with the dev CA failed: ${r.error?.code} ${r.error?.message ?? r.status}`);
      assert.equal(r.protocol, 'sip');
      assert.equal(r.fingerprint, leaf.fingerprint256);
      r.ws.terminate();
    }

    // Without the CA (Node's own roots only): the chain does not verify.
    const untrusted = await connect(`wss://localhost:${port}/`, {});
    if (untrusted.ws) untrusted.ws.terminate();
    assert.ok(untrusted.error, 'a client without the dev CA connected');
    assert.ok(kUntrusted.has(untrusted.error.code), `unexpected error ${untrusted.error.code}: ${untrusted.error.message}`);

    // With the CA but for a name the certificate does not carry.
    const wrongName = await connect(`wss://127.0.0.1:${port}/`, { ca: [ca], servername: 'other.example' });
    if (wrongName.ws) wrongName.ws.terminate();
    assert.equal(wrongName.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  }));

test('certs: make-dev-ca.sh reuses its CA and never overwrites the CA key unless told', (t) =>
  withScope(t, async (s) => {
    const out = await caIn(s, ['localhost']);
    const caKey = fs.readFileSync(path.join(out, 'ca.key'));
    const caCrt = fs.readFileSync(path.join(out, 'ca.crt'));
    const first = fs.readFileSync(path.join(out, 'server.crt'));

    // A second server certificate from the same CA (imported once, trusted for both).
    let r = await makeDevCa(['-o', out, 'phone.test', '192.0.2.10']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readFileSync(path.join(out, 'ca.key')), caKey);
    assert.deepEqual(fs.readFileSync(path.join(out, 'ca.crt')), caCrt);
    const second = new crypto.X509Certificate(fs.readFileSync(path.join(out, 'server.crt')));
    assert.notDeepEqual(second.raw, new crypto.X509Certificate(first).raw);
    assert.ok(second.checkIssued(new crypto.X509Certificate(caCrt)));
    assert.match(second.subjectAltName, /DNS:phone\.test/);
    assert.match(second.subjectAltName, /IP Address:192\.0\.2\.10/);

    // A CA key without its certificate: refused, the key left as it was.
    fs.rmSync(path.join(out, 'ca.crt'));
    r = await makeDevCa(['-o', out, 'localhost']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to overwrite the CA key/);
    assert.deepEqual(fs.readFileSync(path.join(out, 'ca.key')), caKey);

    // --new-ca replaces it.
    r = await makeDevCa(['-o', out, '--new-ca', 'localhost']);
    assert.equal(r.code, 0, r.stderr);
    assert.notDeepEqual(fs.readFileSync(path.join(out, 'ca.key')), caKey);

    // Not a host name nor an IP address: usage error, nothing written.
    r = await makeDevCa(['-o', path.join(out, 'x'), 'not a name']);
    assert.equal(r.code, 2);
    assert.ok(!fs.existsSync(path.join(out, 'x')));
  }));
