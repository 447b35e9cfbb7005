// dnsmasq (Debian dnsmasq-base) as the DNS server of a test: 127.0.0.1 and a free port,
// authoritative for the given domains (--local: NXDOMAIN for names it has no record of), no
// upstream, no hosts file; queries logged. Started and stopped by PID.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from './ports.mjs';
import { waitFor } from './wait.mjs';
import { tcpListening, trackPid, untrackPid } from './procs.mjs';

export const dnsmasqBin = process.env.DNSMASQ_BIN || '/usr/sbin/dnsmasq';
export const haveDnsmasq = (() => {
  try {
    fs.accessSync(dnsmasqBin, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

/**
 * Starts dnsmasq.
 * @param {object} o
 * @param {string[]} o.domains  domains it answers for alone (--local=/d/)
 * @param {string[]} o.records  --naptr-record=..., --srv-host=..., --host-record=... options
 * @param {number} [o.ttl=60]  TTL of its records (--local-ttl)
 * @returns {Promise<{port:number, pid:number, server:string, log:()=>string, stop:()=>Promise<void>}>}
 */
export async function startDnsmasq(o) {
  const port = await freePort();
  const args = [
    '--no-daemon', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
    '--no-resolv', '--no-hosts', '--no-poll', '--conf-file=/dev/null', '--pid-file=', '--user=',
    `--local-ttl=${o.ttl ?? 60}`, '--log-queries', '--log-facility=-',
    ...o.domains.map((d) => `--local=/${d}/`),
    ...o.records,
  ];
  const proc = spawn(dnsmasqBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => (out += c));
  trackPid(proc.pid);
  const done = new Promise((resolve) => {
    proc.once('error', (err) => {
      out += `\n[harness] spawn error: ${err.message}\n`;
      resolve();
    });
    proc.once('exit', () => {
      untrackPid(proc.pid);
      resolve();
    });
  });
  const handle = {
    port,
    pid: proc.pid,
    server: `127.0.0.1:${port}`,
    log: () => `$ ${dnsmasqBin} ${args.join(' ')}\n${out}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null || !proc.pid) return;
      try {
        process.kill(proc.pid, 'SIGTERM');
      } catch {}
      await done;
    },
  };
  await waitFor(async () => proc.exitCode !== null || (await tcpListening(port)), {
    ms: 5000,
    what: `dnsmasq on port ${port}`,
  });
  if (proc.exitCode !== null) throw new Error(`dnsmasq exited ${proc.exitCode}\n${handle.log()}`);
  return handle;
}

/** startDnsmasq bound to a test scope: stopped after the test, its query log shown on failure. */
export async function dnsmasqIn(scope, o) {
  const h = await startDnsmasq(o);
  scope.defer(() => h.stop());
  scope.log('dnsmasq', h.log);
  return h;
}
