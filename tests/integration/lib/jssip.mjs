// JsSIP in Node: a socket adapter over the `ws` package (JsSIP's socket interface), the
// RTCPeerConnection shim, and a UA factory for ws:// and wss:// (self-signed cert accepted).
import { EventEmitter } from 'node:events';
import JsSIP from 'jssip';
import WebSocket from 'ws';
import { installRtcShim } from './rtc-shim.mjs';
import { waitEvent } from './wait.mjs';

installRtcShim();
export { JsSIP };

/**
 * JsSIP socket (https://jssip.net/documentation/3.10.x/api/socket/) over `ws`.
 * Keeps every SIP message received and sent, so tests can inspect what crossed the wire.
 */
export class NodeWsSocket {
  /**
   * @param {string} url
   * @param {object} [wsOptions]  extra options for the `ws` client, e.g. `{ headers: { Cookie } }`
   *   (a browser sends the page's cookies on the upgrade: RFC 7118 s.7 handshake auth)
   */
  constructor(url, wsOptions = {}) {
    this._url = url;
    this._wsOptions = wsOptions;
    const u = new URL(url);
    this._sip_uri = `sip:${u.hostname}${u.port ? `:${u.port}` : ''};transport=ws`;
    this._via_transport = u.protocol === 'wss:' ? 'WSS' : 'WS';
    this._ws = null;
    this.received = [];
    this.sent = [];
    /** Emits 'received' / 'sent' with the raw text of every SIP message. */
    this.wire = new EventEmitter();
    this.onconnect = () => {};
    this.ondisconnect = () => {};
    this.ondata = () => {};
  }
  get via_transport() {
    return this._via_transport;
  }
  set via_transport(v) {
    this._via_transport = v.toUpperCase();
  }
  get url() {
    return this._url;
  }
  get sip_uri() {
    return this._sip_uri;
  }
  isConnected() {
    return !!this._ws && this._ws.readyState === WebSocket.OPEN;
  }
  isConnecting() {
    return !!this._ws && this._ws.readyState === WebSocket.CONNECTING;
  }
  connect() {
    if (this.isConnected() || this.isConnecting()) return;
    if (this._ws) this.disconnect();
    const ws = new WebSocket(this._url, 'sip', {
      rejectUnauthorized: false,
      handshakeTimeout: 5000,
      ...this._wsOptions,
    });
    this._ws = ws;
    ws.on('open', () => this.onconnect());
    ws.on('close', (code, reason) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this.ondisconnect(code !== 1000, code, reason.toString());
    });
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? Buffer.from(data).toString('utf8') : data.toString();
      this.received.push(text);
      this.wire.emit('received', text);
      this.ondata(text);
    });
    ws.on('error', () => {}); // 'close' follows and reports the disconnection
    ws.on('unexpected-response', (req, res) => {
      this.handshakeStatus = res.statusCode;
    });
  }
  disconnect() {
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      try {
        ws.terminate();
      } catch {}
    }
  }
  send(message) {
    if (!this.isConnected()) return false;
    this.sent.push(message);
    this.wire.emit('sent', message);
    this._ws.send(message);
    return true;
  }
}

/**
 * A JsSIP UA for `user@localhost` on sipws's ws/wss listener. Not started.
 * @param {object} o
 * @param {'ws'|'wss'} o.proto
 * @param {number} o.port
 * @param {string} o.user
 * @param {string} [o.password]
 * @param {boolean} [o.register=true]
 * @param {object} [o.wsOptions]  passed to NodeWsSocket (e.g. the session Cookie header)
 */
export function makeUA({ proto, port, user, password, register = true, domain = 'localhost', wsOptions }) {
  const socket = new NodeWsSocket(`${proto}://127.0.0.1:${port}`, wsOptions);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: `sip:${user}@${domain}`,
    password,
    register,
    register_expires: 300,
    session_timers: false,
    connection_recovery_min_interval: 2,
    connection_recovery_max_interval: 4,
    user_agent: 'sipws-integration-jssip',
  });
  ua.socket = socket;
  return ua;
}

/** Stops a UA and waits (bounded) until its socket is closed. Never throws. */
export async function stopUA(ua) {
  if (!ua) return;
  try {
    const stopped = ua.isConnected() ? waitEvent(ua, 'disconnected', { ms: 3000 }) : null;
    ua.stop();
    if (stopped) await stopped.catch(() => {});
  } catch {}
  try {
    ua.socket.disconnect();
  } catch {}
}

/** Media options that keep JsSIP away from getUserMedia (no audio device in Node). */
export const kNoMedia = { mediaConstraints: { audio: false, video: false } };

/** The status line and headers of a raw SIP message, as {status, method, headers(name)}. */
export function parseSip(text) {
  const [head] = text.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const first = lines[0];
  const m = /^SIP\/2\.0 (\d{3})/.exec(first);
  const headers = (name) => {
    const re = new RegExp(`^(?:${name}):\\s*(.*)$`, 'i');
    return lines.slice(1).map((l) => re.exec(l)).filter(Boolean).map((x) => x[1]);
  };
  return {
    first,
    status: m ? Number(m[1]) : null,
    method: m ? null : first.split(' ')[0],
    headers,
    cseq: (headers('CSeq')[0] || '').trim(),
  };
}

/**
 * Resolves with the first message received on `socket` from index `from` on (parsed with
 * parseSip) that satisfies `pred`; rejects if one satisfies `failIf` first, or after `ms`.
 */
export function waitMessage(socket, pred, { from = 0, failIf = () => false, ms = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    let next = from;
    const scan = () => {
      for (; next < socket.received.length; next++) {
        const m = parseSip(socket.received[next]);
        if (pred(m)) return finish(null, m);
        if (failIf(m)) return finish(new Error(`unexpected message: ${m.first}`));
      }
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for a message`)), ms);
    function finish(err, m) {
      clearTimeout(timer);
      socket.wire.removeListener('received', scan);
      if (err) reject(err);
      else resolve(m);
    }
    socket.wire.on('received', scan);
    scan();
  });
}
