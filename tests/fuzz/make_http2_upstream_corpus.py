#!/usr/bin/python3
# Writes the seed corpus of the http2_upstream fuzz target (tests/fuzz/corpus/http2_upstream): a few
# upstream connections answering the four requests the target opens (streams 1, 3, 5, 7), as
# hand-built frames (no HTTP/2 library sends a GOAWAY below open streams or a 103 on demand). Each
# file is the byte that picks the size of the pieces (and, with its high bit, a ping() and
# shutdown() midway; see http2_upstream_fuzzer.cpp), then the upstream's bytes.
# Usage: tests/fuzz/make_http2_upstream_corpus.py
import pathlib
import struct

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS, PADDED = 1, 1, 4, 8


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def string(s):  # an HPACK string literal, short ones only
    assert len(s) < 127
    return bytes([len(s)]) + s


def field(name, value):  # a literal field without indexing, its name spelled out
    return b"\x00" + string(name) + string(value)


STATUS_200 = b"\x88"  # from the static table
STATUS_103 = b"\x08" + string(b"103")  # the name :status from the static table


def opening():
    return frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0)


def response(stream, body=b"ok", extra=b""):
    return frame(HEADERS, END_HEADERS, stream, STATUS_200 + extra) + \
        frame(DATA, END_STREAM, stream, body)


def responses():
    return opening() + b"".join(response(s, extra=field(b"content-type", b"text/plain"))
                                for s in (1, 3, 5, 7))


def trailers():
    return opening() + frame(HEADERS, END_HEADERS, 3, STATUS_200) + \
        frame(DATA, 0, 3, b"\x00\x00\x00\x00\x02hi") + \
        frame(HEADERS, END_HEADERS | END_STREAM, 3,
              field(b"grpc-status", b"0") + field(b"grpc-message", b"ok"))


def trailers_only():
    return opening() + frame(HEADERS, END_HEADERS | END_STREAM, 5,
                             STATUS_200 + field(b"grpc-status", b"14"))


def interim_then_final():
    return opening() + frame(HEADERS, END_HEADERS, 1, STATUS_103 + field(b"link", b"</a>")) + \
        response(1)


def goaway_last_1():
    return opening() + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0)) + response(1)


def refused_reset():
    return opening() + frame(RST_STREAM, 0, 3, struct.pack(">I", 7)) + response(1)


def control_frames():
    settings = struct.pack(">HI", 3, 2) + struct.pack(">HI", 4, 1 << 20)
    return opening() + frame(PING, 0, 0, b"12345678") + frame(SETTINGS, 0, 0, settings) + \
        frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)) + \
        frame(WINDOW_UPDATE, 0, 3, struct.pack(">I", 1 << 16)) + response(7)


def padded_with_length():
    return opening() + frame(HEADERS, END_HEADERS, 1, STATUS_200 + field(b"content-length", b"3")) + \
        frame(DATA, PADDED, 1, b"\x04abc\0\0\0\0") + frame(DATA, END_STREAM, 1)


def big_header():
    value = b"v" * 100
    return opening() + frame(HEADERS, END_HEADERS, 1,
                             STATUS_200 + b"".join(field(b"x-big", value) for _ in range(12))) + \
        response(3)


SEEDS = {  # name: (piece byte, bytes)
    "responses": (63, responses()),
    "responses_in_3_byte_pieces": (2, responses()),
    "responses_ping_and_shutdown": (0x80 | 63, responses()),
    "trailers": (63, trailers()),
    "trailers_only": (63, trailers_only()),
    "interim_then_final": (5, interim_then_final()),
    "goaway_last_1": (63, goaway_last_1()),
    "refused_reset": (63, refused_reset()),
    "control_frames": (17, control_frames()),
    "padded_with_length": (63, padded_with_length()),
    "big_header": (63, big_header()),
}

out = pathlib.Path(__file__).parent / "corpus" / "http2_upstream"
out.mkdir(parents=True, exist_ok=True)
for name, (piece, data) in SEEDS.items():
    (out / name).write_bytes(bytes([piece]) + data)
