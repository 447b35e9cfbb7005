#!/usr/bin/env python3
"""Writes the seed corpora of stun_fuzz, auth_login_fuzz and auth_digest_fuzz under
tests/fuzz/corpus/ (auth_cookie_fuzz writes its own from the real cookie code: see its header).

Each seed is the target's flag byte, then its input. The STUN messages are built here with
Python's own HMAC-SHA1 and CRC-32 (RFC 5389 s.15.4, s.15.5), independently of src/bridge/stun.cpp,
keyed with the fuzz agent's pwd; the RFC 5769 samples are copied from the RFC. The Digest values
are the RFC 7616 s.3.9.1 and RFC 2617 s.3.5 examples, and SIP/WebSocket credentials with the
placeholders $NONCE / $RESPONSE that auth_digest_fuzz fills in.

Usage: tests/fuzz/make_seeds.py   (from anywhere; overwrites the seeds it writes)
"""
import hashlib
import hmac
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# stun_fuzz's agent (kUfrag, kPwd, kRemoteUfrag).
UFRAG, PWD, REMOTE = b"fzUF", b"fuzzpwdfuzzpwdfuzzpwd0", b"peer"
MAGIC = 0x2112A442
TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

USERNAME, MESSAGE_INTEGRITY, ERROR_CODE = 0x0006, 0x0008, 0x0009
XOR_MAPPED_ADDRESS, PRIORITY, USE_CANDIDATE = 0x0020, 0x0024, 0x0025
SOFTWARE, FINGERPRINT, ICE_CONTROLLED, ICE_CONTROLLING = 0x8022, 0x8028, 0x8029, 0x802A


def attr(t, value):
    return struct.pack("!HH", t, len(value)) + value + b"\0" * (-len(value) % 4)


def stun(msg_type, attrs, key=None, fingerprint=True, txid=TXID):
    """A STUN message (RFC 5389 s.6) with MESSAGE-INTEGRITY under `key` and FINGERPRINT."""
    body = b"".join(attrs)

    def header(length):
        return struct.pack("!HHI", msg_type, length, MAGIC) + txid

    if key is not None:
        mac = hmac.new(key, header(len(body) + 24) + body, hashlib.sha1).digest()
        body += attr(MESSAGE_INTEGRITY, mac)
    if fingerprint:
        crc = zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E
        body += attr(FINGERPRINT, struct.pack("!I", crc))
    return header(len(body)) + body


def xor_v4(ip, port):
    a = bytes(int(x) for x in ip.split("."))
    return struct.pack("!BBH", 0, 1, port ^ (MAGIC >> 16)) + bytes(
        x ^ y for x, y in zip(a, struct.pack("!I", MAGIC)))


# RFC 5769 s.2.1 Sample Request (short-term credentials, "evtj:h6vY", ICE attributes).
RFC5769_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70c"
    "bfd8cb56781ef2b5b2d3f249c1b571a2802800 04e57a3bcf".replace(" ", ""))
# RFC 5769 s.2.3 Sample IPv6 Response (XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]).
RFC5769_IPV6_RESPONSE = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae802200 0b7465737420766563746f7220"
    "00200014 0002a1470113a9faa5d3f179bc25f4b5bed2b9d9 00080014a382954e4be67bf11784c97c8292c275"
    "bfe3ed41 80280004c8fb0b4c".replace(" ", ""))

BINDING_REQUEST, BINDING_SUCCESS, BINDING_ERROR = 0x0001, 0x0101, 0x0111
ICE = [attr(PRIORITY, struct.pack("!I", 0x6E0001FF)),
       attr(ICE_CONTROLLING, bytes.fromhex("932ff9b151263b36"))]
OUR_USER = attr(USERNAME, UFRAG + b":" + REMOTE)


def stun_seeds():
    raw, with_remote, ipv6_src, structured = 0x00, 0x20, 0x40, 0x01
    return {
        # RFC 5769 test vectors as received (not our credentials: 401; a response: dropped).
        "rfc5769_request": bytes([raw]) + RFC5769_REQUEST,
        "rfc5769_ipv6_response": bytes([raw]) + RFC5769_IPV6_RESPONSE,
        # RFC 8445 s.7.2.2 checks to the ICE-lite agent: nominating, plain, role conflict (487),
        # unknown comprehension-required attribute (420), no MESSAGE-INTEGRITY (400), wrong
        # USERNAME and wrong key (401), no FINGERPRINT (dropped).
        "check_nominating": bytes([with_remote]) + stun(
            BINDING_REQUEST, [OUR_USER] + ICE + [attr(USE_CANDIDATE, b"")], PWD),
        "check_ipv6_source": bytes([ipv6_src]) + stun(BINDING_REQUEST, [OUR_USER] + ICE, PWD),
        "check_role_conflict": bytes([raw]) + stun(
            BINDING_REQUEST, [OUR_USER, attr(PRIORITY, b"\x6e\0\1\xff"),
                              attr(ICE_CONTROLLED, bytes(8))], PWD),
        "check_unknown_attribute": bytes([raw]) + stun(
            BINDING_REQUEST, [OUR_USER, attr(0x0030, b"abc")] + ICE, PWD),
        "check_no_integrity": bytes([raw]) + stun(BINDING_REQUEST, [OUR_USER] + ICE),
        "check_wrong_user": bytes([with_remote]) + stun(
            BINDING_REQUEST, [attr(USERNAME, UFRAG + b":other")] + ICE, PWD),
        "check_wrong_key": bytes([raw]) + stun(BINDING_REQUEST, [OUR_USER] + ICE, b"nope"),
        "check_no_fingerprint": bytes([raw]) + stun(BINDING_REQUEST, [OUR_USER] + ICE, PWD,
                                                    fingerprint=False),
        # Responses: success with XOR-MAPPED-ADDRESS, error with ERROR-CODE (RFC 5389 s.15.6).
        "success_response": bytes([raw]) + stun(
            BINDING_SUCCESS, [attr(XOR_MAPPED_ADDRESS, xor_v4("192.0.2.1", 32853)),
                              attr(SOFTWARE, b"sipws seed")], PWD),
        "error_response": bytes([raw]) + stun(
            BINDING_ERROR, [attr(ERROR_CODE, b"\0\0\x04\x57Role Conflict")], PWD),
        # Structured mode: transaction id, then attributes; the target signs them.
        "structured_check": bytes([structured | 0x02 | 0x04 | with_remote]) + TXID + b"".join(
            ICE + [attr(USE_CANDIDATE, b"")]),
        # Not STUN: what else shares the port (RFC 7983): a DTLS ClientHello record header and
        # an RTP packet.
        "dtls_record": bytes([raw]) + bytes.fromhex("16fefd0000000000000000002e010000"),
        "rtp_packet": bytes([raw]) + bytes.fromhex("80000001000000a0deadbeef") + bytes(160),
    }


def login_seeds():
    json_ct, form_ct, origin_own, logout, https = 0, 1, 0x18, 0x20, 0x80
    return {
        "json_alice": bytes([json_ct]) + b'{"user":"alice","password":"secret"}',
        "json_aor_https": bytes([json_ct | https]) +
        b'{"user":"alice@example.com","password":"secret"}',
        "json_wrong": bytes([json_ct]) + b'{"user":"alice","password":"guess"}',
        "json_other_domain": bytes([json_ct]) + b'{"user":"alice@evil.net","password":"secret"}',
        "form_bob": bytes([form_ct | origin_own]) + b"user=bob&password=b0b",
        "form_escaped": bytes([form_ct]) + b"password=s%65cret&user=%61lice&x=1",
        "form_latin1_user": bytes([form_ct]) + b"user=jos%E9&password=pw",
        "logout": bytes([json_ct | origin_own | logout]) + b"",
    }


def digest_seeds():
    register, invite, ws_path, second = 0, 1, 2, 4
    ours = ('Digest username="alice", realm="example.com", nonce="$NONCE", uri="%s", '
            'algorithm=%s, qop=auth, nc=00000001, cnonce="0a4f113b", response="$RESPONSE"')
    return {
        # RFC 7616 s.3.9.1 (SHA-256 and MD5) and RFC 2617 s.3.5: another realm and nonce here.
        "rfc7616_sha256": bytes([register]) + (
            b'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
            b'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            b'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
            b'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
            b'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'),
        "rfc7616_md5": bytes([register]) + (
            b'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
            b'algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            b'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
            b'response="8ca523f5e9506fed4657c9700eebdbec", '
            b'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'),
        "rfc2617": bytes([register]) + (
            b'Digest username="Mufasa",\r\n realm="testrealm@host.com",\r\n'
            b' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n uri="/dir/index.html",\r\n'
            b' qop=auth,\r\n nc=00000001,\r\n cnonce="0a4f113b",\r\n'
            b' response="6629fae49393a05397450978507c4ef1",\r\n'
            b' opaque="5ccc069c403ebaf9f0171f9505c60ac"'),
        # Credentials of ours, filled in by the target: REGISTER (MD5), INVITE (SHA-256,
        # Proxy-Authorization after another realm's), the WebSocket upgrade of "/" and of
        # "/ws?x=1", and RFC 2069 style (no qop) for SIP.
        "register_md5": bytes([register]) + (ours % ("sip:example.com", "MD5")).encode(),
        "invite_sha256": bytes([invite | second]) +
        (ours % ("sip:carol@example.com", "SHA-256")).encode(),
        "upgrade_root": bytes([register]) + (ours % ("/", "SHA-256")).encode(),
        "upgrade_query": bytes([ws_path]) + (ours % ("/ws?x=1", "MD5")).encode(),
        "register_no_qop": bytes([register]) + (
            b'Digest username="bob", realm="example.com", nonce="$NONCE", '
            b'uri="sip:example.com", response="$RESPONSE"'),
        "escaped_quotes": bytes([register]) + (
            b'Digest username="al\\"ice", realm="example.com", nonce="$NONCE", uri="/", '
            b'qop=auth, nc=00000002, cnonce="a\\\\b", response="$RESPONSE", userhash=false'),
    }


def write(name, seeds):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for file, data in seeds.items():
        with open(os.path.join(d, file), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("stun", stun_seeds())
    write("auth_login", login_seeds())
    write("auth_digest", digest_seeds())
