// Kamailio (Debian kamailio + kamailio-websocket-modules [+ kamailio-tls-modules]) as a SIP
// WebSocket server for the outbound WS client tests: tests/integration/kamailio/kamailio.cfg,
// foreground (-DD -E), on free ports given as -A defines, runtime dir (-Y) in a temp dir, no
// fifo/ctl. Started and stopped by PID (SIGTERM: the main process stops its children).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from './daemon.mjs';
import { freePort } from './ports.mjs';
import { waitFor } from './wait.mjs';
import { tcpListening, trackPid, untrackPid } from './procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kamailioCfg = path.resolve(here, '..', 'kamailio', 'kamailio.cfg');
const pbxCfg = path.resolve(here, '..', 'kamailio', 'pbx.cfg');
export const kamailioBin = process.env.KAMAILIO_BIN || '/usr/sbin/kamailio';
const kModules = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const kMaxLog = 2 * 1024 * 1024;

function installed(file) {
  try {
    fs.accessSync(file);
    return true;
  } catch {
    return false;
  }
}
export const haveKamailio =
  installed(kamailioBin) && installed(path.join(kModules, 'websocket.so'));
export const haveKamailioTls = haveKamailio && installed(path.join(kModules, 'tls.so'));

function udpTaken(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(true));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}

/**
 * Starts Kamailio.
 * @param {object} [o]
 * @param {{cert:string, key:string}} [o.tls]  also listen for WSS (tls module) with this PEM pair
 * @param {string} [o.pbx]  run tests/integration/kamailio/pbx.cfg instead (UDP only): a PBX for
 *   domain `o.pbx`
 * @param {string[]} [o.defines]  more -A defines (e.g. ['WITH_PATH'])
 * @param {number} [o.udpPort]  the UDP port (default: a free one; a restart reuses it)
 * @returns {Promise<{pid:number, ports:{udp:number, ws?:number, wss?:number}, dir:string,
 *           log:()=>string, stop:()=>Promise<void>}>}
 */
export async function startKamailio(o = {}) {
  const dir = makeTempDir('sipws-kamailio-');
  const ports = { udp: o.udpPort || (await freePort()) };
  if (!o.pbx) ports.ws = await freePort();
  const args = [
    '-DD', '-E', '-f', o.pbx ? pbxCfg : kamailioCfg, '-Y', dir, '-m', '32', '-M', '4',
    '-A', `UDP_PORT=${ports.udp}`,
  ];
  if (o.pbx) args.push('-A', `DOMAIN="${o.pbx}"`);
  else args.push('-A', `WS_PORT=${ports.ws}`);
  for (const d of o.defines || []) args.push('-A', d);
  if (o.tls) {
    ports.wss = await freePort();
    args.push('-A', 'WITH_TLS', '-A', `WSS_PORT=${ports.wss}`,
      '-A', `TLS_CERT="${o.tls.cert}"`, '-A', `TLS_KEY="${o.tls.key}"`);
  }
  const proc = spawn(kamailioBin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const append = (c) => {
    out += c.toString();
    if (out.length > kMaxLog) out = out.slice(out.length - kMaxLog);
  };
  proc.stdout.on('data', append);
  proc.stderr.on('data', append);
  trackPid(proc.pid);
  const done = new Promise((resolve) => {
    proc.once('error', (err) => {
      append(`\n[harness] spawn error: ${err.message}\n`);
      resolve();
    });
    proc.once('exit', (code, signal) => {
      append(`\n[harness] kamailio exited (code ${code}, signal ${signal})\n`);
      untrackPid(proc.pid);
      resolve();
    });
  });
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const handle = {
    pid: proc.pid,
    ports,
    dir,
    log: () => `$ ${kamailioBin} ${args.join(' ')}\n${out}`,
    async stop() {
      if (exited() || !proc.pid) return;
      try {
        process.kill(proc.pid, 'SIGTERM');
      } catch {}
      const t = setTimeout(() => {
        try {
          process.kill(proc.pid, 'SIGKILL');
        } catch {}
      }, 5000);
      await done;
      clearTimeout(t);
    },
  };
  await waitFor(
    async () =>
      exited() ||
      ((!ports.ws || (await tcpListening(ports.ws))) && (await udpTaken(ports.udp)) &&
        (!ports.wss || (await tcpListening(ports.wss)))),
    { ms: 10000, what: `kamailio on udp ${ports.udp}${ports.ws ? ` / ws ${ports.ws}` : ''}` },
  ).catch((err) => {
    err.message += `\n${handle.log()}`;
    throw err;
  });
  if (exited()) throw new Error(`kamailio exited at start\n${handle.log()}`);
  return handle;
}

/** startKamailio bound to a test scope: stopped after the test, its log shown on failure. */
export async function kamailioIn(scope, o) {
  const h = await startKamailio(o);
  scope.tempDir(h.dir);
  scope.defer(() => h.stop());
  scope.log(`kamailio (pid ${h.pid})`, h.log);
  return h;
}
