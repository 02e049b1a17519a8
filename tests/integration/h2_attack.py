#!/usr/bin/python3
"""A hostile HTTP/2 client for tests/integration/http2_attack_test.cpp.

Frames are built by hand (header blocks as HPACK literals without indexing, so any name or
value goes, upper case and CR/LF included); what the server sends back is parsed with the
python3-h2 stack's hpack decoder. One attack per run:

  h2_attack.py PORT MODE [options]

It prints one JSON object on stdout:
  goaway       the GOAWAY error code received, or null
  closed       true when the server closed the connection before the deadline
  resets       {stream: RST_STREAM code} received
  statuses     {stream: final :status} received
  send_error   why sending stopped early (the server closed), or null
  cases        (mode malformed) [{name, stream, reset, status}]
Every wait is bounded by --timeout.
"""

import argparse
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

from hpack import Decoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
CANCEL = 0x8


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value, first=0x00):
    """A literal field with a new name, not indexed (0x00) or indexed (0x40); no Huffman."""
    name = name.encode() if isinstance(name, str) else name
    value = value.encode() if isinstance(value, str) else value
    prefix = 4 if first == 0x00 else 6
    return hpack_int(0, prefix, first) + hpack_int(len(name), 7) + name + \
        hpack_int(len(value), 7) + value


def block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def request_fields(authority, path="/", method="GET", extra=(), scheme="http"):
    fields = [(":method", method)]
    if scheme is not None:
        fields.append((":scheme", scheme))
    fields += [(":path", path), (":authority", authority)]
    return fields + list(extra)


def headers_frame(stream, fields, end_stream=True):
    flags = END_HEADERS | (END_STREAM if end_stream else 0)
    return frame(HEADERS, flags, stream, block(fields))


class Client:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.deadline = time.monotonic() + timeout
        self.buffer = bytearray()  # received, parsed up to self.at
        self.at = 0
        self.decoder = Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.block = None  # (stream, fragments) of a header block arriving
        self.goaway = None
        self.last_stream = None
        self.closed = False
        self.resets = {}
        self.statuses = {}
        self.window_updates = set()  # streams the server gave window back to
        self.server_settings = False
        self.send_error = None

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError as error:
            self.send_error = self.send_error or type(error).__name__
            return False

    def _recv(self):
        return self.sock.recv(65536)

    def send_in_background(self, data):
        """sendall on a thread, so that the caller reads (or does not) meanwhile."""
        thread = threading.Thread(target=self.send, args=(data,), daemon=True)
        thread.start()
        return thread

    def _read_frame(self):
        """The next frame (kind, flags, stream, payload), or None at close or the deadline."""
        while True:
            at, buffer = self.at, self.buffer
            if len(buffer) - at >= 9:
                length = int.from_bytes(buffer[at:at + 3], "big")
                if len(buffer) - at >= 9 + length:
                    self.at = at + 9 + length
                    stream = int.from_bytes(buffer[at + 5:at + 9], "big") & 0x7FFFFFFF
                    return buffer[at + 3], buffer[at + 4], stream, bytes(buffer[at + 9:self.at])
            del buffer[:at]  # only the partial frame stays
            self.at = 0
            left = self.deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self._recv()
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buffer += chunk

    def _on_frame(self, kind, flags, stream, payload):
        if kind == SETTINGS and not flags & ACK:
            self.server_settings = True
        elif kind == WINDOW_UPDATE:
            self.window_updates.add(stream)
        elif kind == RST_STREAM:
            self.resets[stream] = int.from_bytes(payload[:4], "big")
        elif kind == GOAWAY:
            self.last_stream = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            self.goaway = int.from_bytes(payload[4:8], "big")
        elif kind in (HEADERS, CONTINUATION):
            if kind == HEADERS:
                if flags & 0x8:  # PADDED
                    payload = payload[1:len(payload) - payload[0]]
                if flags & 0x20:  # PRIORITY
                    payload = payload[5:]
                self.block = (stream, [payload])
            elif self.block:
                self.block[1].append(payload)
            if flags & END_HEADERS and self.block:
                fields = self.decoder.decode(b"".join(self.block[1]), raw=True)
                for name, value in fields:
                    if name == b":status" and int(value) >= 200:
                        self.statuses[self.block[0]] = int(value)
                self.block = None

    def read_until(self, done):
        """Reads frames until done(self), the connection closes or the deadline passes."""
        while not done(self):
            got = self._read_frame()
            if got is None:
                return done(self)
            self._on_frame(*got)
        return True

    def stream_answered(self, stream):
        return lambda c: stream in c.resets or stream in c.statuses or c.goaway is not None

    def report(self, **extra):
        out = {
            "goaway": self.goaway,
            "last_stream": self.last_stream,
            "closed": self.closed,
            "resets": {str(k): v for k, v in self.resets.items()},
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "send_error": self.send_error,
        }
        out.update(extra)
        print(json.dumps(out))
        sys.stdout.flush()


class TlsClient(Client):
    """The same over TLS (ALPN h2), its records made in memory: send_records() may cut one."""

    def __init__(self, port, timeout):
        super().__init__(port, timeout)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                got = self.sock.recv(65536)
                if not got:
                    raise ConnectionError("the server closed during the handshake")
                self.incoming.write(got)
        self.sock.sendall(self.outgoing.read())

    def records(self, data):
        """data as TLS records, not sent."""
        self.tls.write(data)
        return self.outgoing.read()

    def send(self, data):
        return super().send(self.records(data))

    def _recv(self):
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                got = self.sock.recv(65536)
                if not got:
                    return b""
                self.incoming.write(got)
            except ssl.SSLError:
                return b""


def start(args, settings=b""):
    client = (TlsClient if args.tls else Client)(args.port, args.timeout)
    client.send(PREFACE + frame(SETTINGS, 0, 0, settings))
    return client


def ack_settings(client):
    client.read_until(lambda c: c.server_settings)
    client.send(frame(SETTINGS, ACK, 0))


def hold_without_reading(client, args):
    """The client does not read until --hold-until exists (the test saw what it waits for)."""
    if not args.hold_until:
        return
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.hold_until) and time.monotonic() < deadline:
        time.sleep(0.01)


def cancel(stream):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL))


def reset_pairs(args):
    """--count requests on streams 1, 3, 5, ..., each followed by its RST_STREAM."""
    pairs = bytearray()
    for stream in range(1, 2 * args.count, 2):
        pairs += headers_frame(stream, request_fields(args.authority, "/reset/%d" % stream))
        pairs += cancel(stream)
    return pairs


def rapid_reset(args):
    client = start(args)
    client.send_in_background(bytes(reset_pairs(args)))
    client.read_until(lambda c: c.closed)
    client.report(sent=args.count)


def rapid_reset_split(args):
    """--count batches of 100 requests, each batch's RST_STREAMs after all its HEADERS, the lot
    in one write; then one request left to be answered. Each request carries a 200-byte field, so
    that a batch is longer than one read of the server's: its resets wait in the socket while the
    first requests are read."""
    client = start(args)
    padding = [("x-padding", "p" * 200)]
    frames = bytearray()
    stream = 1
    for _ in range(args.count):
        batch = range(stream, stream + 200, 2)
        for s in batch:
            frames += headers_frame(s, request_fields(args.authority, "/reset/%d" % s,
                                                      extra=padding))
        for s in batch:
            frames += cancel(s)
        stream += 200
    frames += headers_frame(stream, request_fields(args.authority, "/after-split"))
    client.send_in_background(bytes(frames))
    client.read_until(client.stream_answered(stream))
    client.report(sent=args.count * 100, last=stream)


def reset_before_start(args):
    """--count HEADERS + RST_STREAM pairs and one request after them, in one write small enough
    for one read of the server's: each reset comes before its stream could start."""
    client = start(args)
    frames = reset_pairs(args)
    last = 2 * args.count + 1
    frames += headers_frame(last, request_fields(args.authority, "/after-resets"))
    client.send(bytes(frames))
    client.read_until(client.stream_answered(last))
    client.report(sent=args.count, last=last)


def partial_record(args):
    """(--tls) A request in whole TLS records, then the first bytes of the next record (a PING)
    in the same write: the request is all there, the record after it is not. Waits --timeout for
    the answer."""
    client = start(args)  # the preface and SETTINGS: records of their own, sent
    whole = client.records(headers_frame(1, request_fields(args.authority, "/before-cut")))
    cut = client.records(frame(PING, 0, 0, b"12345678"))[:5]
    super(TlsClient, client).send(whole + cut)
    client.read_until(client.stream_answered(1))
    client.report(last=1)


# One stream each, in this order; every one must be refused before anything goes upstream.
def malformed_cases(authority):
    r = lambda path, **kw: request_fields(authority, path, **kw)  # noqa: E731
    return [
        ("uppercase-name", r("/upper", extra=[("X-Upper", "1")])),
        ("transfer-encoding", r("/te-chunked", method="POST", extra=[("transfer-encoding",
                                                                      "chunked")])),
        ("connection", r("/connection", extra=[("connection", "keep-alive")])),
        ("te-gzip", r("/te-gzip", extra=[("te", "gzip")])),
        ("crlf-value", r("/crlf", extra=[("x-a", "1\r\nx-injected: 1")])),
        ("lf-value", r("/lf", extra=[("x-a", "1\nx-injected: 1")])),
        ("crlf-path", r("/a\r\nx-injected: 1")),
        ("space-path", r("/a HTTP/1.1\r\nx: y")),
        ("missing-scheme", r("/noscheme", scheme=None)),
        ("host-mismatch", r("/host", extra=[("host", "evil.example")])),
    ]


def malformed(args):
    client = start(args)
    ack_settings(client)
    cases = []
    stream = 1
    for name, fields in malformed_cases(args.authority):
        client.send(headers_frame(stream, fields, end_stream=True))
        client.read_until(client.stream_answered(stream))
        cases.append({"name": name, "stream": stream, "reset": client.resets.get(stream),
                      "status": client.statuses.get(stream)})
        stream += 2
    # A body that disagrees with its content-length, shorter then longer.
    for name, length, body in (("content-length-short", 10, b"abcd"),
                               ("content-length-long", 4, b"abcdefghij")):
        fields = request_fields(args.authority, "/" + name, method="POST",
                                extra=[("content-length", str(length))])
        client.send(headers_frame(stream, fields, end_stream=False) +
                    frame(DATA, END_STREAM, stream, body))
        client.read_until(client.stream_answered(stream))
        cases.append({"name": name, "stream": stream, "reset": client.resets.get(stream),
                      "status": client.statuses.get(stream)})
        stream += 2
    # A body that goes upstream in part (the proxy gave window back for bytes it wrote upstream),
    # then ends short of its content-length.
    fields = request_fields(args.authority, "/content-length-late", method="POST",
                            extra=[("content-length", "50000")])
    client.send(headers_frame(stream, fields, end_stream=False) +
                b"".join(frame(DATA, 0, stream, b"x" * n) for n in (16384, 16384, 7232)))
    client.read_until(lambda c: stream in c.window_updates or c.goaway is not None)
    went_upstream = stream in client.window_updates
    client.send(frame(DATA, END_STREAM, stream, b"y" * 1000))
    client.read_until(client.stream_answered(stream))
    cases.append({"name": "content-length-late", "stream": stream,
                  "reset": client.resets.get(stream), "status": client.statuses.get(stream),
                  "went_upstream": went_upstream})
    stream += 2
    # The connection still serves a well-formed request.
    client.send(headers_frame(stream, request_fields(args.authority, "/after")))
    client.read_until(client.stream_answered(stream))
    client.report(cases=cases, after=client.statuses.get(stream))


def continuation_flood(args):
    client = start(args)
    ack_settings(client)
    first = block(request_fields(args.authority, "/continuation"))
    flood = bytearray(frame(HEADERS, END_STREAM, 1, first))
    for i in range(args.count):
        flood += frame(CONTINUATION, 0, 1, literal("x-c%d" % i, "v"))
    client.send_in_background(bytes(flood))
    client.read_until(lambda c: c.closed)
    client.report(sent=args.count)


def hpack_bomb(args):
    """One 4000-byte dynamic-table entry, then a block naming it --count times (1 byte each)."""
    client = start(args)
    ack_settings(client)
    entry = literal("x-bomb", "a" * 4000, first=0x40)  # literal with incremental indexing
    head = block(request_fields(args.authority, "/bomb"))
    reference = hpack_int(62, 7, 0x80)  # the newest dynamic entry
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1,
                      head + entry + reference * args.count))
    client.read_until(lambda c: c.closed)
    client.report(sent=args.count)


def ack_flood(args, kind):
    """SETTINGS or PING frames the server must acknowledge, sent by a client that does not read
    until --hold-until exists."""
    client = start(args)
    if kind == SETTINGS:
        one = frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 65535))  # INITIAL_WINDOW_SIZE
    else:
        one = frame(PING, 0, 0, b"floodnow")
    sender = client.send_in_background(one * args.count)
    sender.join(args.send_timeout)  # done, failed (the server closed) or blocked that long
    if args.ready_file:
        open(args.ready_file, "w").close()
    hold_without_reading(client, args)
    client.read_until(lambda c: c.closed)
    client.report(sent=args.count, sender_done=not sender.is_alive())


def empty_data(args):
    client = start(args)
    ack_settings(client)
    fields = request_fields(args.authority, "/empty-data", method="POST")
    flood = bytearray(headers_frame(1, fields, end_stream=False))
    flood += frame(DATA, 0, 1) * args.count
    client.send_in_background(bytes(flood))
    client.read_until(lambda c: c.closed)
    client.report(sent=args.count)


def many_streams(args):
    """--count GET streams at once; with --ack, after acknowledging the server's SETTINGS."""
    client = start(args)
    if args.ack:
        ack_settings(client)
    burst = b"".join(headers_frame(2 * i + 1, request_fields(args.authority, "/many/%d" % i))
                     for i in range(args.count))
    client.send(burst)
    streams = [2 * i + 1 for i in range(args.count)]
    client.read_until(lambda c: c.goaway is not None or
                      all(s in c.resets or s in c.statuses for s in streams))
    if client.goaway is not None:
        client.read_until(lambda c: c.closed)
    client.report(sent=args.count)


MODES = {
    "rapid-reset": rapid_reset,
    "rapid-reset-split": rapid_reset_split,
    "reset-before-start": reset_before_start,
    "partial-record": partial_record,
    "malformed": malformed,
    "continuation-flood": continuation_flood,
    "hpack-bomb": hpack_bomb,
    "settings-flood": lambda args: ack_flood(args, SETTINGS),
    "ping-flood": lambda args: ack_flood(args, PING),
    "empty-data": empty_data,
    "many-streams": many_streams,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--count", type=int, default=1000, help="frames, pairs or streams")
    parser.add_argument("--timeout", type=float, default=20, help="bound on every wait (s)")
    parser.add_argument("--authority", default=None, help="default 127.0.0.1:PORT")
    parser.add_argument("--ack", action="store_true", help="acknowledge the server's SETTINGS")
    parser.add_argument("--hold-until", default=None, help="do not read until this file exists")
    parser.add_argument("--ready-file", default=None,
                        help="created when a flood was sent (or sending blocked --send-timeout)")
    parser.add_argument("--send-timeout", type=float, default=5)
    parser.add_argument("--tls", action="store_true", help="TLS (ALPN h2), no certificate check")
    args = parser.parse_args()
    args.authority = args.authority or "127.0.0.1:%d" % args.port
    MODES[args.mode](args)


if __name__ == "__main__":
    main()
