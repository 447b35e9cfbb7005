// The media half of a UDP phone for the bridge tests: one UDP socket on 127.0.0.1 that receives
// and counts RTP (RFC 3550 s.5.1 header checked), optionally echoes every packet to its sender
// (like SIPp's -rtp_echo), and can play the RTP packets of a G.711 pcap (like SIPp's
// play_pcap_audio) from the same socket, so that the phone's media is symmetric: it sends from
// the port its SDP names. SIPp does the signalling, with this port in its SDP (-key rtp_port).
import dgram from 'node:dgram';
import fs from 'node:fs';

const kHost = '127.0.0.1';

/** Debian's sip-tester ships this: 7 s of G.711 A-law (PT 8), 30 ms (240-byte) payloads. */
export const kG711aPcap = '/usr/share/sip-tester/g711a.pcap';

/**
 * RTP packets (the UDP payloads) of a classic pcap file with Ethernet/IPv4/UDP frames, with
 * their capture times in ms from the first packet.
 * @returns {{at: number, rtp: Buffer}[]}
 * @throws if the file is not a little-endian pcap with link type 1 (Ethernet).
 */
export function readPcapRtp(file) {
  const d = fs.readFileSync(file);
  if (d.readUInt32LE(0) !== 0xa1b2c3d4 || d.readUInt32LE(20) !== 1) {
    throw new Error(`${file}: not a little-endian Ethernet pcap`);
  }
  const out = [];
  let off = 24;
  let t0 = null;
  while (off + 16 <= d.length) {
    const sec = d.readUInt32LE(off);
    const usec = d.readUInt32LE(off + 4);
    const len = d.readUInt32LE(off + 8);
    const frame = d.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (frame.readUInt16BE(12) !== 0x0800) continue; // IPv4 only
    const ihl = (frame[14] & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue; // UDP only
    const t = sec * 1000 + usec / 1000;
    if (t0 === null) t0 = t;
    out.push({ at: t - t0, rtp: Buffer.from(frame.subarray(14 + ihl + 8)) });
  }
  return out;
}

/** Parses an RTP header (RFC 3550 s.5.1); null if it is not RTP version 2. */
export function parseRtp(buf) {
  if (buf.length < 12 || buf[0] >> 6 !== 2) return null;
  const cc = buf[0] & 0x0f;
  if (buf.length < 12 + 4 * cc) return null;
  return {
    payloadType: buf[1] & 0x7f,
    marker: Boolean(buf[1] & 0x80),
    seq: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payloadLength: buf.length - 12 - 4 * cc,
  };
}

/**
 * A UDP media endpoint on 127.0.0.1:`port` (0: any free port).
 * @param {{port?: number, echo?: boolean}} o  echo: send every datagram back to its sender
 */
export async function startRtpPeer({ port = 0, echo = false } = {}) {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, kHost, () => {
      sock.removeListener('error', reject);
      resolve();
    });
  });
  const peer = {
    port: sock.address().port,
    /** Valid RTP packets received: counts by payload type, SSRCs, senders ("ip:port"). */
    received: 0,
    notRtp: 0,
    payloadTypes: new Map(),
    ssrcs: new Set(),
    senders: new Set(),
    echoed: 0,
    sent: 0,
    closed: false,
    summary() {
      return {
        port: peer.port, received: peer.received, notRtp: peer.notRtp, echoed: peer.echoed,
        sent: peer.sent, payloadTypes: Object.fromEntries(peer.payloadTypes),
        ssrcs: peer.ssrcs.size, senders: [...peer.senders],
      };
    },
    /**
     * Sends `packets` ({at, rtp} from readPcapRtp) to host:port at their capture pace.
     * @returns a promise resolved when the last one is out (or the peer was closed).
     */
    play(packets, host, rport) {
      return new Promise((resolve) => {
        const start = Date.now();
        let i = 0;
        const tick = () => {
          if (peer.closed) return resolve();
          const now = Date.now() - start;
          while (i < packets.length && packets[i].at <= now) {
            sock.send(packets[i].rtp, rport, host);
            peer.sent++;
            i++;
          }
          if (i >= packets.length) return resolve();
          setTimeout(tick, Math.max(1, Math.min(20, packets[i].at - now)));
        };
        tick();
      });
    },
    close() {
      if (peer.closed) return Promise.resolve();
      peer.closed = true;
      return new Promise((resolve) => sock.close(resolve));
    },
  };
  sock.on('message', (msg, rinfo) => {
    const h = parseRtp(msg);
    if (!h || (h.payloadType >= 72 && h.payloadType <= 76)) {
      peer.notRtp++; // not RTP, or RTCP (RFC 5761 s.4) on the RTP port
    } else {
      peer.received++;
      peer.payloadTypes.set(h.payloadType, (peer.payloadTypes.get(h.payloadType) || 0) + 1);
      peer.ssrcs.add(h.ssrc);
      peer.senders.add(`${rinfo.address}:${rinfo.port}`);
    }
    if (echo && !peer.closed) {
      sock.send(msg, rinfo.port, rinfo.address);
      peer.echoed++;
    }
  });
  return peer;
}
