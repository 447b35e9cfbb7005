// SIP messages from SIPp's -trace_msg file (<scenario>_<pid>_messages.log in the run's dir).
import fs from 'node:fs';
import path from 'node:path';

/** Every message SIPp logged, in order: {dir: 'sent'|'received', text}. */
export function sippMessages(handle) {
  const out = [];
  for (const f of fs.readdirSync(handle.dir).filter((n) => n.endsWith('_messages.log')).sort()) {
    const body = fs.readFileSync(path.join(handle.dir, f), 'utf8');
    for (const chunk of body.split(/^-{20,} .*$/m)) {
      const m = /^\s*\S+ message (sent|received)[^\n]*:\s*\n\n?([\s\S]*)$/.exec(chunk);
      if (m) out.push({ dir: m[1], text: m[2].replace(/\r?\n/g, '\r\n').trim() });
    }
  }
  return out;
}

/** The body of a SIP message ("" if none). */
export function sipBody(text) {
  const i = text.indexOf('\r\n\r\n');
  return i < 0 ? '' : text.slice(i + 4).trim();
}

/** The connection address and port of the first audio stream of an SDP. */
export function audioAddress(sdp) {
  const c = /^c=IN IP4 (\S+)/m.exec(sdp);
  const m = /^m=audio (\d+) (\S+) ([\d ]+)/m.exec(sdp);
  if (!c || !m) return null;
  return { host: c[1], port: Number(m[1]), proto: m[2], formats: m[3].trim().split(/\s+/).map(Number) };
}
