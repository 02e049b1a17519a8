#!/usr/bin/python3
# Writes the seed corpus of the http2_front fuzz target (tests/fuzz/corpus/http2_front): a few
# client connections as python3-h2 sends them. Each file is the byte that picks the size of the
# pieces (and, with its high bit, a shutdown() midway; see http2_front_fuzzer.cpp), then the
# client's bytes after the magic, which the target adds itself.
# Usage: tests/fuzz/make_http2_front_corpus.py   (Debian's python3 with python3-h2)
import pathlib

import h2.config
import h2.connection

MAGIC = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GET = [(":method", "GET"), (":scheme", "https"), (":authority", "example.com"), (":path", "/")]
POST = [(":method", "POST"), (":scheme", "https"), (":authority", "example.com"),
        (":path", "/upload"), ("content-type", "application/grpc"), ("te", "trailers")]


def connection():
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    return conn


def get(conn):
    conn.send_headers(1, GET, end_stream=True)


def post_body(conn):
    conn.send_headers(1, POST + [("content-length", "11")])
    conn.send_data(1, b"hello world", end_stream=True)


def post_trailers(conn):
    conn.send_headers(1, POST)
    conn.send_data(1, b"\x00\x00\x00\x00\x05hello")
    conn.send_headers(1, [("grpc-timeout", "1S")], end_stream=True)


def cookies_and_host(conn):
    conn.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/a?b"),
                          ("host", "example.com"), ("cookie", "a=1"), ("cookie", "b=2")],
                      end_stream=True)


def two_streams_one_reset(conn):
    conn.send_headers(1, POST)
    conn.send_headers(3, GET, end_stream=True)
    conn.send_data(1, b"x" * 100)
    conn.reset_stream(1)


def control_frames(conn):
    conn.ping(b"12345678")
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    conn.increment_flow_control_window(1 << 20)
    conn.send_headers(1, GET, end_stream=True, priority_weight=32)
    conn.prioritize(1, weight=64)


def padded_data(conn):
    conn.send_headers(1, POST)
    conn.send_data(1, b"abc", pad_length=10)
    conn.send_data(1, b"", end_stream=True)


def goaway_after_request(conn):
    conn.send_headers(1, GET, end_stream=True)
    conn.close_connection()


SEEDS = {  # name: (piece byte, script)
    "get": (63, get),
    "get_in_3_byte_pieces": (2, get),
    "get_then_shutdown": (0x80 | 63, get),
    "post_body": (63, post_body),
    "post_trailers": (5, post_trailers),
    "cookies_and_host": (63, cookies_and_host),
    "two_streams_one_reset": (63, two_streams_one_reset),
    "control_frames": (17, control_frames),
    "padded_data": (63, padded_data),
    "goaway_after_request": (63, goaway_after_request),
}

out = pathlib.Path(__file__).parent / "corpus" / "http2_front"
out.mkdir(parents=True, exist_ok=True)
for name, (piece, script) in SEEDS.items():
    conn = connection()
    script(conn)
    data = conn.data_to_send()
    assert data.startswith(MAGIC)
    (out / name).write_bytes(bytes([piece]) + data[len(MAGIC):])
