// A registered JsSIP user over WS for tests that only need a callee: makes `user@localhost` a
// subscriber, registers it, records the INVITEs it gets, and hands each incoming session to a
// callback. Cleanup waits for the un-REGISTER's answer (bounded) and then closes the socket at
// once, where stopUA in fixtures.mjs waits for JsSIP's own 2 s close timer.
import { makeUA } from './jssip.mjs';
import { parseMessage } from './rawsip.mjs';
import { waitEvent } from './wait.mjs';

/**
 * @param {object} scope  withScope's scope
 * @param {object} daemon  startDaemon's handle
 * @param {string} user  user part; registered as user@localhost with `password`
 * @param {(session) => void} [onInvite]  called with each incoming RTCSession
 * @returns {Promise<JsSIP.UA & {invites: object[]}>} invites: parsed INVITEs (lib/rawsip.mjs)
 */
export async function jssipUserIn(scope, daemon, user, onInvite = () => {}, password = 'secret') {
  await daemon.addUser(`${user}@localhost`, password);
  const ua = makeUA({ proto: 'ws', port: daemon.ports.ws, user, password });
  scope.defer(async () => {
    try {
      // Answered un-REGISTER: no JsSIP transaction is left waiting for Timer F (32 s).
      const unregistered = ua.isRegistered()
        ? waitEvent(ua, 'unregistered', { ms: 1000 }).catch(() => {})
        : null;
      ua.stop();
      await unregistered;
    } catch {}
    ua.socket.disconnect();
    clearTransactionTimers(transactions);
  });
  scope.log(`JsSIP ${user} over ws: messages received`, () =>
    ua.socket.received.map((m) => m.split('\r\n\r\n')[0]).join('\n\n'));
  // Every transaction the UA makes (UA emits 'newTransaction'), for clearTransactionTimers.
  const transactions = new Set();
  ua.on('newTransaction', ({ transaction }) => transactions.add(transaction));
  ua.invites = [];
  ua.on('newRTCSession', ({ originator, session, request }) => {
    if (originator !== 'remote') return;
    ua.invites.push(parseMessage(request.data || request.toString()));
    onInvite(session);
  });
  const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
  ua.start();
  await registered;
  return ua;
}

/**
 * Clears the timers of the UA's transactions (e.g. Timer H, 32 s, which JsSIP 3.x leaves
 * running after the ACK of a 486 has confirmed the transaction): the UA is stopped, and they
 * would only keep the test process alive for half a minute after its last test. Timer names
 * are JsSIP's transaction fields (A..M).
 */
export function clearTransactionTimers(transactions) {
  for (const tr of transactions) {
    for (const k of ['A', 'B', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M']) {
      if (tr[k]) clearTimeout(tr[k]);
    }
    if (tr.resendProvisionalTimer) clearInterval(tr.resendProvisionalTimer);
  }
}
