// Fixtures bound to a test scope (see scope.mjs): whatever they start is stopped after the test,
// and its log is shown if the test fails.
import { startDaemon } from './daemon.mjs';
import { makeUA, stopUA } from './jssip.mjs';
import { startSipp } from './sipp.mjs';

/** A sipws daemon (fresh temp dir, store and ports unless given), stopped after the test. */
export async function daemonIn(scope, opts = {}) {
  const d = await startDaemon(opts);
  scope.tempDir(d.dir);
  scope.defer(() => d.stop());
  scope.log(`sipws stderr (pid ${d.pid})`, d.stderr);
  return d;
}

/**
 * A `trusted_peers` entry for the SIPp user agents of these tests: requests from 127.0.0.1 over
 * `transport` whose From is `sip:sipp@example.net` (the From of the uac_*.xml scenarios) skip
 * digest auth, as a PSTN gateway or a PBX trunk does. Nothing else from 127.0.0.1 is trusted:
 * JsSIP (WS) and SIPp REGISTERs for local users are still challenged.
 * @param {object} [o]
 * @param {boolean} [o.relay=false]  may also reach non-local targets (a trunk that sipws
 *   relays for); without it, local users and aliases only
 * @param {string} [o.transport='udp']
 */
export function sippPeer({ relay = false, transport = 'udp' } = {}) {
  return {
    name: relay ? 'sipp-trunk' : 'sipp-phone',
    source: '127.0.0.1',
    transport,
    from: '^sip:sipp@example\\.net$',
    relay,
  };
}

/** A SIPp process (see startSipp), killed by PID after the test if still running. */
export async function sippIn(scope, name, opts) {
  const h = await startSipp(opts);
  scope.tempDir(h.dir);
  scope.defer(() => h.stop());
  scope.log(`sipp ${name}`, h.log);
  return h;
}

/** A JsSIP UA on sipws's ws/wss listener (see makeUA), stopped after the test. */
export function uaIn(scope, opts) {
  const ua = makeUA(opts);
  scope.defer(() => stopUA(ua));
  scope.log(`JsSIP ${opts.user} over ${opts.proto}: messages received`, () =>
    ua.socket.received.map((m) => m.split('\r\n\r\n')[0]).join('\n\n'));
  return ua;
}

/**
 * Registers `user@domain` (password `secret`) at the registrar on UDP 127.0.0.1:`registrarPort`
 * with SIPp from `host`:`port` (host default 127.0.0.1; digest auth), so that a SIPp UAS started
 * later on that address is the registered contact. Resolves once SIPp exited 0 (401, then 200 listing the contact).
 */
export async function registerSippAt(scope, { registrarPort, user, domain, port, host }) {
  const reg = await sippIn(scope, `register ${user}@${domain} (udp)`, {
    scenario: 'register.xml',
    host,
    port,
    remote: `127.0.0.1:${registrarPort}`,
    keys: { aor_user: user, aor_domain: domain },
    args: ['-au', user, '-ap', 'secret'],
  });
  const r = await reg.done;
  if (r.code !== 0) {
    throw new Error(`SIPp REGISTER of ${user}@${domain} from port ${port} exited ${r.code}`);
  }
}

/**
 * Makes `user@localhost` a subscriber of `daemon` and registers it there from `host`:`port`
 * (registerSippAt).
 */
export async function registerSippContact(scope, daemon, user, port, host = undefined) {
  await daemon.addUser(`${user}@localhost`, 'secret');
  await registerSippAt(scope, { registrarPort: daemon.ports.udp, user, domain: 'localhost', port,
    host });
}
