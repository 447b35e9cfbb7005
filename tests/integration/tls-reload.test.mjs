// TLS certificate renewal without a restart (issue 15, item 5): SIGHUP makes sipws read
// tls_cert/tls_key again. A new TLS handshake on the WSS port then presents the new
// certificate, a connection made before stays open and keeps working, and a broken pair (a
// key that is no PEM) is refused with a log line while the certificate in use stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { makeTempDir } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { withScope } from './lib/scope.mjs';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

/** A self-signed EC certificate for `cn` written to cert.pem/key.pem in `dir` (via temp files). */
function makeCert(dir, cn) {
  const tmp = makeTempDir('sipws-cert-');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(tmp, 'key.pem'), '-out',
    path.join(tmp, 'cert.pem'), '-days', '1', '-subj', `/CN=${cn}`]);
  assert.equal(r.status, 0, r.stderr.toString());
  fs.renameSync(path.join(tmp, 'key.pem'), path.join(dir, 'key.pem'));
  fs.renameSync(path.join(tmp, 'cert.pem'), path.join(dir, 'cert.pem'));
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** A TLS connection to `port`; resolves with {socket, cn} once the handshake is done. */
function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false,
      servername: 'localhost' }, () => resolve({ socket, cn: socket.getPeerCertificate().subject.CN }));
    socket.once('error', reject);
  });
}

/** An HTTP GET / over an open TLS socket; resolves with the status line. */
function getOver(socket) {
  return new Promise((resolve, reject) => {
    let data = '';
    socket.on('data', (c) => {
      data += c.toString('latin1');
      if (data.includes('\r\n')) resolve(data.split('\r\n')[0]);
    });
    socket.once('error', reject);
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
}

test('SIGHUP reloads the TLS certificate: new handshakes get it, open connections stay',
  { skip: !haveOpenssl && 'openssl not found' }, (t) =>
    withScope(t, async (s) => {
      const certs = makeTempDir('sipws-certs-');
      s.tempDir(certs);
      makeCert(certs, 'a.test');
      const d = await daemonIn(s, { extraSets: [`tls_cert=${path.join(certs, 'cert.pem')}`,
        `tls_key=${path.join(certs, 'key.pem')}`] });
      const first = await connect(d.ports.wss);
      s.defer(() => first.socket.destroy());
      assert.equal(first.cn, 'a.test');

      makeCert(certs, 'b.test');
      process.kill(d.pid, 'SIGHUP');
      await d.waitStderr(/SIGHUP: TLS certificate reloaded: \/CN=b\.test/);
      const second = await connect(d.ports.wss);
      s.defer(() => second.socket.destroy());
      assert.equal(second.cn, 'b.test', 'a new handshake presents the renewed certificate');
      assert.equal(first.socket.destroyed, false);
      assert.match(await getOver(first.socket), /^HTTP\/1\.1 200 /,
        'the connection made before the reload still works');

      fs.writeFileSync(path.join(certs, 'key.pem'), 'not a key\n');
      process.kill(d.pid, 'SIGHUP');
      await d.waitStderr(/SIGHUP: TLS certificate not reloaded, the one in use stays: .*key\.pem/);
      const third = await connect(d.ports.wss);
      s.defer(() => third.socket.destroy());
      assert.equal(third.cn, 'b.test', 'a broken pair is not taken');
    }));
