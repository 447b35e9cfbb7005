// Helpers shared by the harnesses that start peer programs (SIPp, dnsmasq, Kamailio): a
// registry of their PIDs, killed if the test process exits while they still run, and a probe
// for a TCP listener on 127.0.0.1.
import net from 'node:net';

const live = new Set();
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});

/** Remembers a started child's PID: it is killed if the test process exits first. */
export function trackPid(pid) {
  if (pid) live.add(pid);
}

/** Forgets a PID once its process exited. */
export function untrackPid(pid) {
  live.delete(pid);
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpListening(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
