#!/usr/bin/python3
"""An HTTP/2 (h2c, prior knowledge) echo server for the integration tests, on python3-h2.

h2_echo.py PORT NAME [--refuse-first N] [--freeze-after N] [--tls CERT KEY ALPN]
    Prints "listening" once bound. Every request is answered 200 with a JSON body: the backend's
    name, method, path, authority, scheme, its fields (in order, as pairs), its body's length and
    the body itself when under 4 KiB (the answer stays within one frame and window). A request
    with the field `x-with-length` gets a content-length; one with `x-want-trailers` gets the
    trailer `x-checksum: <body length>`. --refuse-first N: the first N streams (over all
    connections) are reset with REFUSED_STREAM before anything is read of them. --freeze-after N:
    after N answers the server stops reading and writing (a peer that hangs, even for PINGs). --tls: TLS with
    that certificate, offering the ALPN protocol ALPN (h2 for HTTP/2 over TLS).
"""
import json
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.errors

refused_left = 0
answers_left = None  # until the server freezes; None: never
lock = threading.Lock()


def take_refusal():
    global refused_left
    with lock:
        if refused_left > 0:
            refused_left -= 1
            return True
    return False


def freeze_if_due():
    global answers_left
    with lock:
        if answers_left is None:
            return
        if answers_left > 0:
            answers_left -= 1
            return
    threading.Event().wait()  # for ever: the connection stays open and silent


def answer(conn, stream_id, name, head, body):
    freeze_if_due()
    fields = [(k.decode(), v.decode()) for k, v in head]
    pseudo = {k: v for k, v in fields if k.startswith(":")}
    regular = [[k, v] for k, v in fields if not k.startswith(":")]
    payload = json.dumps({
        "backend": name, "method": pseudo.get(":method"), "path": pseudo.get(":path"),
        "authority": pseudo.get(":authority"), "scheme": pseudo.get(":scheme"),
        "fields": regular, "body_length": len(body),
        "body": body.decode(errors="replace") if len(body) < 4096 else "",
    }).encode()
    names = {k for k, _ in regular}
    response = [(":status", "200"), ("content-type", "application/json"), ("x-backend", name)]
    if "x-with-length" in names:
        response.append(("content-length", str(len(payload))))
    trailers = "x-want-trailers" in names
    conn.send_headers(stream_id, response)
    # In pieces no larger than the peer's windows allow; waits are left to the proxy (small bodies).
    conn.send_data(stream_id, payload, end_stream=not trailers)
    if trailers:
        conn.send_headers(stream_id, [("x-checksum", str(len(body)))], end_stream=True)


def serve_connection(sock, name):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    heads, bodies = {}, {}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    if take_refusal():
                        conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                        continue
                    heads[event.stream_id] = event.headers
                    bodies[event.stream_id] = b""
                    if event.stream_ended:
                        answer(conn, event.stream_id, name, heads.pop(event.stream_id),
                               bodies.pop(event.stream_id))
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if event.stream_id in bodies:
                        bodies[event.stream_id] += event.data
                elif isinstance(event, h2.events.StreamEnded):
                    if event.stream_id in heads:
                        answer(conn, event.stream_id, name, heads.pop(event.stream_id),
                               bodies.pop(event.stream_id))
            sock.sendall(conn.data_to_send())
    except (ConnectionError, OSError):
        return
    finally:
        sock.close()


def main():
    global refused_left, answers_left
    port, name = int(sys.argv[1]), sys.argv[2]
    options = sys.argv[3:]
    tls = None
    while options:
        if options[0] == "--refuse-first":
            refused_left, options = int(options[1]), options[2:]
        elif options[0] == "--freeze-after":
            answers_left, options = int(options[1]), options[2:]
        elif options[0] == "--tls":
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(options[1], options[2])
            tls.set_alpn_protocols([options[3]])
            options = options[4:]
        else:
            sys.exit("unknown option " + options[0])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print("listening", flush=True)
    while True:
        sock, _ = listener.accept()
        if tls:
            try:
                sock = tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                continue
        threading.Thread(target=serve_connection, args=(sock, name), daemon=True).start()


if __name__ == "__main__":
    main()
