// Free-port helper: asks the kernel for a port by binding port 0 on 127.0.0.1, then closes.
// A port is returned only if it is free for both TCP and UDP, so one number can serve a
// listener of either kind (sipws binds udp and tcp listeners; SIPp binds both for media).
import net from 'node:net';
import dgram from 'node:dgram';

const kHost = '127.0.0.1';
const handedOut = new Set();

function tcpPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, kHost, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function udpFree(port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => resolve(false));
    sock.bind(port, kHost, () => sock.close(() => resolve(true)));
  });
}

/** One port free for TCP and UDP on 127.0.0.1, never handed out twice by this process. */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await tcpPort();
    if (handedOut.has(port) || port > 65000) continue;
    if (!(await udpFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port found in 50 attempts');
}

/** `n` distinct free ports. */
export async function freePorts(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}

/**
 * `n` consecutive ports free for UDP on 127.0.0.1 (SIPp's -mp takes four: audio RTP/RTCP and
 * video RTP/RTCP), none handed out before; returns the first.
 */
export async function freePortRange(n) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = await tcpPort();
    if (base > 65000 - n) continue;
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = !handedOut.has(p) && (await udpFree(p));
    if (!ok) continue;
    for (let p = base; p < base + n; p++) handedOut.add(p);
    return base;
  }
  throw new Error(`no ${n} consecutive free ports found in 100 attempts`);
}
