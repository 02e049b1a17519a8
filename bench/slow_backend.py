#!/usr/bin/python3
"""A backend that answers after a delay and counts the requests it holds at once.

  slow_backend.py PORT --proto h1|h2c --stats FILE [--delay-ms 5] [--attack-delay-ms 100]

For bench/rapid_reset.sh. Every request is answered `200 ok\\n` after a delay: --attack-delay-ms
for paths under /reset/ (the attacker's: a slow endpoint is what an attacker picks), --delay-ms
for the others. A request is "held" from its head until its response is written, or until the
proxy gives it up: its HTTP/1.1 connection closes, or (h2c) its stream is reset or its connection
closes, as a server that stops work it can no longer deliver does.

Every 100 ms one line is appended to --stats:
  epoch_seconds attack_held_max other_held_max attack_total other_total cancelled_total conn_max
where *_held_max is the most requests held at once during those 100 ms (per class), *_total the
requests received since the start, cancelled_total the requests the proxy gave up, conn_max the
most requests held at once from one attacker connection (the /reset/cNNNNNN/ part of the path).

h2c: our SETTINGS_MAX_CONCURRENT_STREAMS is 100000, so the bound on what one client connection
sends upstream is the proxy's own. Needs python3-h2 (h2c only). Single-threaded asyncio.
"""

import argparse
import asyncio
import signal
import socket
import time

ATTACK_PREFIX = b"/reset/"


class Stats:
    """attack: None for the others' requests, else the attacker's connection (the path's
    /reset/cNNNNNN/ part), so that what one attacker connection has in flight is counted too."""

    def __init__(self):
        self.held = [0, 0]  # attack, other
        self.held_max = [0, 0]
        self.total = [0, 0]
        self.cancelled = 0
        self.per_conn = {}  # attacker connection -> requests held
        self.conn_max = 0

    def start(self, attack):
        i = 1 if attack is None else 0
        self.held[i] += 1
        self.total[i] += 1
        if self.held[i] > self.held_max[i]:
            self.held_max[i] = self.held[i]
        if attack is not None:
            n = self.per_conn.get(attack, 0) + 1
            self.per_conn[attack] = n
            if n > self.conn_max:
                self.conn_max = n

    def end(self, attack, cancelled=False):
        self.held[1 if attack is None else 0] -= 1
        if attack is not None:
            n = self.per_conn[attack] - 1
            if n:
                self.per_conn[attack] = n
            else:
                del self.per_conn[attack]
        if cancelled:
            self.cancelled += 1

    def given_up_at_once(self, attack):
        self.total[1 if attack is None else 0] += 1
        self.cancelled += 1

    def line(self):
        out = "%.3f %d %d %d %d %d %d\n" % (time.time(), self.held_max[0], self.held_max[1],
                                            self.total[0], self.total[1], self.cancelled,
                                            self.conn_max)
        self.held_max = list(self.held)
        self.conn_max = max(self.per_conn.values(), default=0)
        return out


def attacker_of(path):
    """The attacker's connection named in the path, or None for the others' requests."""
    if not path.startswith(ATTACK_PREFIX):
        return None
    return path[len(ATTACK_PREFIX):].split(b"/", 1)[0]


STATS = Stats()
BODY = b"ok\n"


def peer_closed(transport):
    """True when the proxy already closed the connection (its EOF waits behind the request we
    just read): asyncio would tell only at its next turn, and a backend that lags behind would
    count such a request as held meanwhile."""
    sock = transport.get_extra_info("socket")
    sock = getattr(sock, "_sock", sock)  # asyncio's TransportSocket wraps the real one
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class H1(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time per connection (requests without a body or
    with a Content-Length)."""

    def __init__(self, args):
        self.args = args
        self.buffer = b""
        self.pending = None  # (timer, attack) of the request being held
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        self.next_request()

    def next_request(self):
        if self.pending is not None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length:]
        target = head.split(b" ", 2)[1] if b" " in head else b"/"
        attack = attacker_of(target)
        if peer_closed(self.transport):
            STATS.given_up_at_once(attack)
            self.transport.close()
            return
        STATS.start(attack)
        delay = (self.args.delay_ms if attack is None else self.args.attack_delay_ms) / 1000
        timer = asyncio.get_running_loop().call_later(delay, self.respond)
        self.pending = (timer, attack)

    def respond(self):
        _, attack = self.pending
        self.pending = None
        STATS.end(attack)
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(BODY), BODY))
        self.next_request()

    def connection_lost(self, exc):
        if self.pending is not None:
            timer, attack = self.pending
            timer.cancel()
            self.pending = None
            STATS.end(attack, cancelled=True)


class H2c(asyncio.Protocol):
    def __init__(self, args):
        import h2.config
        import h2.connection
        self.args = args
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.streams = {}  # stream id -> (timer, attack)
        self.transport = None

    def connection_made(self, transport):
        import h2.settings
        self.transport = transport
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100000})
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)

    def data_received(self, data):
        import h2.events
        import h2.exceptions
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        # a stream reset in the same read as its request is given up at once, never held
        reset_now = {e.stream_id for e in events if isinstance(e, h2.events.StreamReset)}
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers).get(b":path", b"/")
                attack = attacker_of(path)
                if event.stream_id in reset_now:
                    STATS.given_up_at_once(attack)
                    continue
                STATS.start(attack)
                delay = (self.args.delay_ms if attack is None else self.args.attack_delay_ms) / 1000
                timer = asyncio.get_running_loop().call_later(delay, self.respond, event.stream_id)
                self.streams[event.stream_id] = (timer, attack)
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                held = self.streams.pop(event.stream_id, None)
                if held is not None:
                    held[0].cancel()
                    STATS.end(held[1], cancelled=True)
        self.flush()

    def respond(self, stream_id):
        _, attack = self.streams.pop(stream_id)
        STATS.end(attack)
        try:
            self.conn.send_headers(stream_id, [(b":status", b"200"), (b"content-type", b"text/plain"),
                                               (b"content-length", b"%d" % len(BODY))])
            self.conn.send_data(stream_id, BODY, end_stream=True)
        except Exception:  # the stream closed meanwhile (a reset we have not read yet)
            pass
        self.flush()

    def connection_lost(self, exc):
        for timer, attack in self.streams.values():
            timer.cancel()
            STATS.end(attack, cancelled=True)
        self.streams.clear()


async def write_stats(path):
    with open(path, "a", buffering=1) as f:
        while True:
            await asyncio.sleep(0.1)
            f.write(STATS.line())


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--proto", choices=("h1", "h2c"), default="h1")
    parser.add_argument("--stats", required=True)
    parser.add_argument("--delay-ms", type=float, default=5)
    parser.add_argument("--attack-delay-ms", type=float, default=100)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    cls = H1 if args.proto == "h1" else H2c
    server = await loop.create_server(lambda: cls(args), "127.0.0.1", args.port, backlog=1024)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    stats = asyncio.ensure_future(write_stats(args.stats))
    async with server:
        await stop
    stats.cancel()


if __name__ == "__main__":
    asyncio.run(main())
