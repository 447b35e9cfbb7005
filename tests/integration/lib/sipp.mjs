// SIPp runner: one plain `sipp` child per call (`-m 1 -timeout 20s -timeout_error -trace_err
// -trace_msg`), in its own temp dir so its trace files can be shown when a test fails.
// The result is SIPp's exit code (0: every call succeeded).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from './daemon.mjs';
import { freePortRange } from './ports.mjs';
import { waitFor } from './wait.mjs';
import { tcpListening, trackPid, untrackPid } from './procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const scenarioDir = path.resolve(here, '..', 'scenarios');
export const sippBin = process.env.SIPP_BIN || 'sipp';
const kHost = '127.0.0.1';
const kHardTimeoutMs = 30000;
const kMaxLog = 1024 * 1024;

/**
 * Starts SIPp.
 * @param {object} o
 * @param {string} o.scenario  file name in scenarios/ (or an absolute path)
 * @param {number} o.port  local SIP port (-p)
 * @param {string} [o.remote]  host:port to send to (UAC); omitted for a UAS
 * @param {string} [o.transport='u1']  -t value (u1 UDP, t1 TCP)
 * @param {string} [o.service='service']  -s value ([service] keyword)
 * @param {Record<string,string|number>} [o.keys]  -key NAME VALUE pairs
 * @param {string[]} [o.args]  more SIPp arguments
 * @param {string} [o.host='127.0.0.1']  local address (-i)
 * @param {string[]} [o.wrap]  command SIPp runs under, e.g. ['ip', 'netns', 'exec', 'ns1']
 *   (it must exec SIPp: the PID is SIPp's)
 * @returns {Promise<{pid:number, done:Promise<{code:number|null, signal:string|null}>,
 *           log:()=>string, stop:()=>Promise<void>}>}
 */
export async function startSipp(o) {
  const dir = makeTempDir('sipws-sipp-');
  const scenario = path.isAbsolute(o.scenario) ? o.scenario : path.join(scenarioDir, o.scenario);
  const mediaPort = await freePortRange(4);  // audio and video RTP/RTCP
  const args = [
    ...(o.remote ? [o.remote] : []),
    '-sf', scenario,
    '-i', o.host || kHost,
    '-p', String(o.port),
    '-t', o.transport || 'u1',
    '-s', o.service || 'service',
    '-m', '1',
    '-timeout', '20s',
    '-timeout_error',
    '-recv_timeout', '15000',
    '-mp', String(mediaPort),
    '-trace_err',
    '-trace_msg',
    '-nostdin',
    ...Object.entries(o.keys || {}).flatMap(([k, v]) => ['-key', k, String(v)]),
    ...(o.args || []),
  ];
  const [cmd, ...cmdArgs] = o.wrap ? [...o.wrap, sippBin, ...args] : [sippBin, ...args];
  const proc = spawn(cmd, cmdArgs, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
      resolve({ code: -1, signal: null });
    });
    proc.once('exit', (code, signal) => {
      untrackPid(proc.pid);
      resolve({ code, signal });
    });
  });
  // SIPp has its own -timeout; this is the harness's backstop.
  const hard = setTimeout(() => {
    append(`\n[harness] sipp still running after ${kHardTimeoutMs} ms: SIGKILL\n`);
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {}
  }, kHardTimeoutMs);
  done.then(() => clearTimeout(hard));

  const handle = {
    pid: proc.pid,
    done,
    dir,
    cmd: `${sippBin} ${args.join(' ')}`,
    /** Screen output plus every trace file SIPp wrote (messages, errors). */
    log() {
      let text = `$ ${handle.cmd}\n${tail(stripAnsi(out), 4000)}`;
      try {
        for (const f of fs.readdirSync(dir).sort()) {
          const body = fs.readFileSync(path.join(dir, f), 'utf8');
          text += `\n[${f}]\n${tail(body, 20000)}`;
        }
      } catch {}
      return text;
    },
    /** Kills SIPp by PID if it still runs (SIGTERM, SIGKILL after 3 s). */
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null || !proc.pid) return;
      try {
        process.kill(proc.pid, 'SIGTERM');
      } catch {}
      const t = setTimeout(() => {
        try {
          process.kill(proc.pid, 'SIGKILL');
        } catch {}
      }, 3000);
      await done;
      clearTimeout(t);
    },
  };

  // Ready once SIPp holds its SIP port (UDP: bind fails; TCP: listener accepts) or has exited.
  const transport = o.transport || 'u1';
  await waitFor(
    async () => proc.exitCode !== null || proc.signalCode !== null ||
      (o.wrap ? udpBound(proc.pid, o.port)
        : transport.startsWith('u') ? !(await udpFree(o.port, o.host || kHost)) : await tcpListening(o.port)) ||
      (o.remote && transport.startsWith('t')),
    { ms: 5000, what: `sipp to bind port ${o.port}` },
  ).catch((err) => {
    err.message += `\n${handle.log()}`;
    throw err;
  });
  return handle;
}

/** True when process `pid` holds UDP port `port` (in its own network namespace). */
function udpBound(pid, port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['udp', 'udp6']) {
    try {
      const lines = fs.readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1);
      if (lines.some((l) => (l.trim().split(/\s+/)[1] || '').endsWith(hex))) return true;
    } catch {}
  }
  return false;
}

/** True when UDP `host`:`port` can be bound (SIPp does not hold it yet). */
function udpFree(port, host) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

function stripAnsi(s) {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

function tail(s, n) {
  return s.length > n ? `...${s.slice(s.length - n)}` : s;
}
