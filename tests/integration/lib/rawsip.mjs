// Raw SIP over UDP from Node: a socket bound to any loopback address (127.0.0.x), a builder for
// requests, a tiny client transaction (retransmits per RFC 3261 s.17.1 timers A/E, answers a
// 401/407 with MD5 digest, ACKs non-2xx finals, ACK/BYE along the route set of a 2xx), and a
// record of every message received with its arrival time. For tests where SIPp is clumsy:
// forged headers, precise timing, several source addresses, floods.
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';

/** Compact header forms (RFC 3261 s.7.3.3) to full names, lower case. */
const kCompact = {
  v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length',
  c: 'content-type', k: 'supported', e: 'content-encoding', s: 'subject',
};

/**
 * Parses a SIP message: {first, status, reason, method, ruri, headers: [[lname, value]],
 * get(name), all(name), body, text}. Header names are matched case-insensitively and in compact
 * form; comma-separated Via values are split by all('via').
 */
export function parseMessage(text) {
  const sep = text.indexOf('\r\n\r\n');
  const head = sep >= 0 ? text.slice(0, sep) : text;
  const body = sep >= 0 ? text.slice(sep + 4) : '';
  const lines = head.split('\r\n');
  const first = lines[0];
  const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(first);
  const headers = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1][1] += ` ${line.trim()}`;
      continue;
    }
    const c = line.indexOf(':');
    if (c < 0) continue;
    let name = line.slice(0, c).trim().toLowerCase();
    name = kCompact[name] || name;
    headers.push([name, line.slice(c + 1).trim()]);
  }
  const all = (name) => {
    const n = name.toLowerCase();
    const vals = headers.filter(([h]) => h === n).map(([, v]) => v);
    return n === 'via' || n === 'route' || n === 'record-route'
      ? vals.flatMap((v) => v.split(',').map((x) => x.trim()))
      : vals;
  };
  const req = m ? null : /^(\S+) (\S+) SIP\/2\.0$/.exec(first);
  return {
    text,
    first,
    status: m ? Number(m[1]) : null,
    reason: m ? m[2] : null,
    method: req ? req[1] : null,
    ruri: req ? req[2] : null,
    headers,
    all,
    get: (name) => all(name)[0],
    body,
  };
}

/** The value of parameter `name` in a header value (`;name=value`), or undefined. */
export function param(value, name) {
  const re = new RegExp(`;\\s*${name}=([^;,>\\s]+)`, 'i');
  const m = re.exec(value || '');
  return m ? m[1] : undefined;
}

/** The URI inside a name-addr (`"x" <sip:a@b>;tag=1` -> `sip:a@b`) or an addr-spec. */
export function uriOf(value) {
  const m = /<([^>]*)>/.exec(value || '');
  return m ? m[1] : (value || '').split(';')[0].trim();
}

const rnd = () => crypto.randomBytes(6).toString('hex');
const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');

/** A SIP request's text. `headers` are extra lines ("Name: value"), in order. */
export function buildRequest({
  method, ruri, via, from, to, callId, cseq, contact, maxForwards = 70, headers = [], body = '',
  contentType,
}) {
  const lines = [
    `${method} ${ruri} SIP/2.0`,
    `Via: ${via}`,
    `Max-Forwards: ${maxForwards}`,
    `From: ${from}`,
    `To: ${to}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    ...(contact ? [`Contact: ${contact}`] : []),
    ...headers,
    ...(body ? [`Content-Type: ${contentType || 'application/sdp'}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A response to parsed request `req` (Via, From, To [+ tag], Call-ID, CSeq copied). */
export function buildResponse(req, status, reason, { toTag, headers = [], body = '' } = {}) {
  let to = req.get('to');
  if (toTag && !param(to, 'tag')) to += `;tag=${toTag}`;
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...req.all('via').map((v) => `Via: ${v}`),
    ...req.all('record-route').map((v) => `Record-Route: ${v}`),
    `From: ${req.get('from')}`,
    `To: ${to}`,
    `Call-ID: ${req.get('call-id')}`,
    `CSeq: ${req.get('cseq')}`,
    ...headers,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A plain offer/answer SDP for address `ip`. */
export function plainSdp(ip = '127.0.0.1', port = 40000) {
  return [
    'v=0', `o=raw 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0',
    `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', '',
  ].join('\r\n');
}

/** MD5 digest credentials (RFC 2617 / 3261 s.22.4) for challenge header value `chal`. */
export function digestCredentials(chal, { user, password, method, uri, nc = 1 }) {
  const p = (name) => {
    const m = new RegExp(`${name}="?([^",]*)"?`, 'i').exec(chal);
    return m ? m[1] : undefined;
  };
  const realm = p('realm');
  const nonce = p('nonce');
  const opaque = p('opaque');
  const qop = /qop="?[^"]*\bauth\b/i.test(chal) ? 'auth' : undefined;
  const ha1 = md5(`${user}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const ncs = nc.toString(16).padStart(8, '0');
  const cnonce = rnd();
  const response = qop
    ? md5(`${ha1}:${nonce}:${ncs}:${cnonce}:${qop}:${ha2}`)
    : md5(`${ha1}:${nonce}:${ha2}`);
  let v = `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", ` +
    `response="${response}", algorithm=MD5`;
  if (qop) v += `, qop=${qop}, nc=${ncs}, cnonce="${cnonce}"`;
  if (opaque !== undefined) v += `, opaque="${opaque}"`;
  return v;
}

/** The MD5 challenge among a response's WWW-/Proxy-Authenticate values (first if none says). */
function md5Challenge(rsp) {
  const vals = [...rsp.all('proxy-authenticate'), ...rsp.all('www-authenticate')];
  return vals.find((v) => /algorithm="?MD5"?(\s*,|\s*$)/i.test(v)) ||
    vals.find((v) => !/algorithm=/i.test(v)) || vals[0];
}

/**
 * A UDP SIP endpoint bound on `host`:`port` (0: any free port). Every datagram received is kept in
 * `received` as {at (ms, performance.now()), msg (parsed), rinfo}. Requests are passed to
 * `onRequest(msg, rinfo)` if set. Close it with close() (the scope's defer).
 */
export async function openEndpoint({ host = '127.0.0.1', port = 0 } = {}) {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.removeListener('error', reject);
      resolve();
    });
  });
  sock.on('error', () => {});
  const ep = {
    sock,
    host,
    port: sock.address().port,
    received: [],
    listeners: new Set(),
    onRequest: null,
    send(text, toPort, toHost = '127.0.0.1') {
      return new Promise((resolve) => sock.send(text, toPort, toHost, () => resolve()));
    },
    /** Resolves with the first received entry (from index `from`) with pred(msg, entry) true. */
    waitFor(pred, { ms = 5000, from = 0, what = 'a SIP message' } = {}) {
      return new Promise((resolve, reject) => {
        let next = from;
        const scan = () => {
          for (; next < ep.received.length; next++) {
            const e = ep.received[next];
            if (pred(e.msg, e)) return finish(null, e);
          }
        };
        const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what} on ${host}:${ep.port}`)), ms);
        function finish(err, e) {
          clearTimeout(timer);
          ep.listeners.delete(scan);
          if (err) reject(err);
          else resolve(e);
        }
        ep.listeners.add(scan);
        scan();
      });
    },
    /** Every message received, as text (for failure logs). */
    log() {
      return ep.received.map((e) => `[${e.rinfo.address}:${e.rinfo.port} +${Math.round(e.at)}ms]\n${e.msg.text.split('\r\n\r\n')[0]}`).join('\n\n');
    },
    close() {
      return new Promise((resolve) => {
        try {
          sock.close(() => resolve());
        } catch {
          resolve();
        }
      });
    },
  };
  sock.on('message', (buf, rinfo) => {
    const entry = { at: performance.now(), msg: parseMessage(buf.toString('latin1')), rinfo };
    ep.received.push(entry);
    if (entry.msg.method && ep.onRequest) {
      try {
        ep.onRequest(entry.msg, rinfo);
      } catch {}
    }
    for (const l of [...ep.listeners]) l();
  });
  return ep;
}

/**
 * A SIP client (UAC) on endpoint `ep` that sends everything to `server` ({host, port}: sipws's
 * UDP listener), as `user`@`domain` (password for digest challenges).
 */
export class SipClient {
  constructor(ep, { server, user = 'raw', domain = 'localhost', password, fromUri, displayName } = {}) {
    this.ep = ep;
    this.server = server;
    this.user = user;
    this.password = password;
    this.fromUri = fromUri || `sip:${user}@${domain}`;
    this.displayName = displayName;
    this.contact = `<sip:${user}@${ep.host}:${ep.port}>`;
  }

  via(branch) {
    return `SIP/2.0/UDP ${this.ep.host}:${this.ep.port};branch=${branch};rport`;
  }

  /**
   * Sends one request and runs its client transaction: retransmits (T1 = 500 ms, doubling;
   * INVITE stops on a provisional), collects every response of it, ACKs a non-2xx final to an
   * INVITE, and (if `auth` and a password) answers one 401/407 with a new CSeq.
   * @returns {Promise<{responses: {at, msg}[], statuses: number[], final: object, finalAt,
   *   sentAt, lastSentAt (the authenticated attempt), callId, fromTag, cseq, attempts: string[],
   *   dialog?}>} responses of every attempt, in order (times: performance.now() ms)
   */
  async request(method, ruri, {
    to, toTag, callId = `${rnd()}@raw`, fromTag = rnd(), cseq = 1, headers = [], body = '',
    contentType, auth = true, ms = 8000, contact = this.contact, retransmit = true,
  } = {}) {
    const responses = [];
    const attempts = [];
    const attemptAt = [];
    let authHeader = null;
    let sentAt = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const branch = `z9hG4bK${rnd()}`;
      const toValue = `<${to || ruri}>${toTag ? `;tag=${toTag}` : ''}`;
      const fromValue = `${this.displayName ? `"${this.displayName}" ` : ''}<${this.fromUri}>;tag=${fromTag}`;
      const text = buildRequest({
        method, ruri, via: this.via(branch), from: fromValue, to: toValue, callId, cseq,
        contact: method === 'MESSAGE' || method === 'OPTIONS' ? undefined : contact,
        headers: [...headers, ...(authHeader ? [authHeader] : [])], body, contentType,
      });
      attempts.push(text);
      const from = this.ep.received.length;
      const isMine = (m) => m.status && (m.get('via') || '').includes(`branch=${branch}`);
      const t0 = performance.now();
      attemptAt.push(t0);
      if (attempt === 0) sentAt = t0;
      await this.ep.send(text, this.server.port, this.server.host);
      // Retransmissions (RFC 3261 s.17.1.1.2 / 17.1.2.2) until a response (INVITE) / final.
      let stop = false;
      const retrans = (async () => {
        let interval = 500;
        let idx = from;
        while (retransmit && !stop) {
          await new Promise((r) => setTimeout(r, interval).unref());
          if (stop) return;
          const got = this.ep.received.slice(idx).some((e) => isMine(e.msg) &&
            (method === 'INVITE' || e.msg.status >= 200));
          if (got) return;
          await this.ep.send(text, this.server.port, this.server.host);
          interval = Math.min(interval * 2, 4000);
        }
      })();
      let final;
      try {
        final = await this.ep.waitFor((m) => isMine(m) && m.status >= 200, {
          ms, from, what: `a final response to ${method} ${ruri}`,
        });
      } finally {
        stop = true;
        void retrans;
      }
      for (const e of this.ep.received.slice(from)) {
        if (isMine(e.msg) && !responses.some((r) => r.entry === e)) {
          // Keep one entry per distinct response (retransmissions of the same status absorbed).
          responses.push({ at: e.at, msg: e.msg, entry: e });
        }
        if (e === final) break;
      }
      const f = final.msg;
      if (method === 'INVITE' && f.status >= 300) {
        await this.ep.send(buildRequest({
          method: 'ACK', ruri, via: this.via(branch), from: fromValue, to: f.get('to'), callId,
          cseq, headers: headers.filter((h) => /^Route:/i.test(h)),
        }), this.server.port, this.server.host);
      }
      if (auth && this.password && (f.status === 401 || f.status === 407) && attempt === 0) {
        const chal = md5Challenge(f);
        if (!chal) break;
        authHeader = `${f.status === 407 ? 'Proxy-Authorization' : 'Authorization'}: ` +
          digestCredentials(chal, { user: this.user, password: this.password, method, uri: ruri });
        cseq += 1;
        continue;
      }
      const result = {
        responses, final: f, finalAt: final.at, sentAt, lastSentAt: attemptAt.at(-1), callId,
        fromTag, cseq, attempts,
        statuses: responses.map((r) => r.msg.status),
      };
      if (method === 'INVITE' && f.status >= 200 && f.status < 300) {
        result.dialog = {
          callId, fromTag, fromValue, cseq, toValue: f.get('to'),
          target: uriOf(f.get('contact')),
          routes: f.all('record-route').reverse(),
        };
        await this.inDialog(result.dialog, 'ACK', { cseq });
      }
      return result;
    }
    throw new Error('unreachable');
  }

  /** Sends an in-dialog request (ACK: no response awaited) along the dialog's route set. */
  async inDialog(dialog, method, { cseq, ms = 5000 } = {}) {
    const branch = `z9hG4bK${rnd()}`;
    const n = cseq ?? ++dialog.cseq;
    const text = buildRequest({
      method, ruri: dialog.target, via: this.via(branch), from: dialog.fromValue,
      to: dialog.toValue, callId: dialog.callId, cseq: n,
      headers: dialog.routes.map((r) => `Route: ${r}`),
    });
    const from = this.ep.received.length;
    await this.ep.send(text, this.server.port, this.server.host);
    if (method === 'ACK') return null;
    const e = await this.ep.waitFor(
      (m) => m.status >= 200 && (m.get('via') || '').includes(`branch=${branch}`),
      { ms, from, what: `a final response to in-dialog ${method}` },
    );
    return e.msg;
  }

  /** REGISTER this endpoint as `sip:user@domain` (digest); resolves with the result. */
  register({ expires = 300, domain = 'localhost', ms } = {}) {
    return this.request('REGISTER', `sip:${domain}`, {
      to: this.fromUri, headers: [`Expires: ${expires}`], ms,
    });
  }
}

/**
 * A UDP sink: a socket that counts every datagram it receives and never answers.
 * {port, host, count(), packets, close()}.
 */
export async function openSink({ host = '127.0.0.1', port = 0 } = {}) {
  const ep = await openEndpoint({ host, port });
  return {
    host,
    port: ep.port,
    ep,
    count: () => ep.received.length,
    close: () => ep.close(),
  };
}

/** openEndpoint bound to a test scope: closed after the test, its messages shown on failure. */
export async function endpointIn(scope, name, opts = {}) {
  const ep = await openEndpoint(opts);
  scope.defer(() => ep.close());
  scope.log(`raw UDP ${name} (${ep.host}:${ep.port}): messages received`, ep.log);
  return ep;
}

/**
 * The SIP messages a SIPp run traced (-trace_msg, `*_messages.log` in its dir), parsed, with
 * `dir` 'received' or 'sent'. Read it after SIPp exited (the file is flushed by then).
 */
export function sippMessages(handle, dir = 'received') {
  let text = '';
  for (const f of fs.readdirSync(handle.dir)) {
    if (f.endsWith('_messages.log')) text += fs.readFileSync(path.join(handle.dir, f), 'latin1');
  }
  const out = [];
  for (const block of text.split(/^-{20,} .*$/m)) {
    const m = /^\s*\S+ message (received|sent) [^\n]*\n\n([\s\S]*)$/.exec(block);
    if (!m || m[1] !== dir) continue;
    out.push(parseMessage(m[2].replace(/\r?\n/g, '\r\n').trim() + '\r\n\r\n'));
  }
  return out;
}
