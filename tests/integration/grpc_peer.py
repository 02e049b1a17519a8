#!/usr/bin/python3
"""A gRPC server and client for the integration tests: grpcio with raw bytes, no generated code.

serve PORT NAME [--fail-every N CODE]
    Serves echo.Echo on 127.0.0.1:PORT and prints "listening" once bound.
    Say (unary): answers NAME + ":" + the request, with trailing metadata x-backend: NAME. A request
      "status:CODE" is answered with that status alone (a trailers-only response); "late:CODE"
      sends the response head first, then fails with CODE in the trailers.
    Count (unary-stream): three messages "1", "2", "3", then OK; with the request "late:CODE",
      two messages, then CODE in the trailers.
    --fail-every N CODE: every N-th Say call (by arrival) fails with CODE.

call TARGET METHOD REQUEST
    One call; prints the status name, then each response message and trailing metadata entry
    (key=value), one per line.

load TARGET SECONDS STOP_FILE
    Say calls one after another until SECONDS pass or STOP_FILE exists; prints a JSON object of
    how many calls ended with each status and how many OK answers came from each backend.
"""
import json
import os
import sys
import threading
import time
from concurrent import futures

import grpc


def identity(data):
    return data


class Echo:
    def __init__(self, name, fail_every, fail_code):
        self.name = name
        self.fail_every = fail_every
        self.fail_code = fail_code
        self.calls = 0
        self.lock = threading.Lock()

    def say(self, request, context):
        with self.lock:
            self.calls += 1
            failing = self.fail_every and self.calls % self.fail_every == 0
        if failing:
            context.abort(self.fail_code, "failing by design")
        text = request.decode(errors="replace")
        if text.startswith("status:"):
            context.abort(grpc.StatusCode[text[7:]], "asked for " + text[7:])
        if text.startswith("late:"):
            context.send_initial_metadata((("x-backend", self.name),))
            context.abort(grpc.StatusCode[text[5:]], "late " + text[5:])
        context.set_trailing_metadata((("x-backend", self.name),))
        return self.name.encode() + b":" + request

    def count(self, request, context):
        text = request.decode(errors="replace")
        if text.startswith("late:"):
            yield b"1"
            yield b"2"
            context.abort(grpc.StatusCode[text[5:]], "late " + text[5:])
        yield b"1"
        yield b"2"
        yield b"3"


def serve(port, name, fail_every, fail_code):
    echo = Echo(name, fail_every, fail_code)
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(
            echo.say, request_deserializer=identity, response_serializer=identity),
        "Count": grpc.unary_stream_rpc_method_handler(
            echo.count, request_deserializer=identity, response_serializer=identity),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        sys.exit(f"cannot bind 127.0.0.1:{port}")
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


def call(target, method, request):
    channel = grpc.insecure_channel(target)
    path = "/echo.Echo/" + method
    lines = []
    try:
        if method == "Count":
            stream = channel.unary_stream(path, request_serializer=identity,
                                          response_deserializer=identity)
            responses = stream(request.encode(), timeout=20)
            for message in responses:
                lines.append(message.decode())
            code, trailing = responses.code(), responses.trailing_metadata()
        else:
            unary = channel.unary_unary(path, request_serializer=identity,
                                        response_deserializer=identity)
            message, state = unary.with_call(request.encode(), timeout=20)
            lines.append(message.decode())
            code, trailing = state.code(), state.trailing_metadata()
    except grpc.RpcError as error:
        code, trailing = error.code(), error.trailing_metadata()
        lines.append("details=" + (error.details() or ""))
    print(code.name)
    for line in lines:
        print(line)
    for key, value in trailing or ():
        print(f"{key}={value}")


def load(target, seconds, stop_file):
    channel = grpc.insecure_channel(target)
    unary = channel.unary_unary("/echo.Echo/Say", request_serializer=identity,
                                response_deserializer=identity)
    codes, backends = {}, {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        try:
            answer = unary(b"hi", timeout=10)
            code = "OK"
            backend = answer.split(b":")[0].decode()
            backends[backend] = backends.get(backend, 0) + 1
        except grpc.RpcError as error:
            code = error.code().name
        codes[code] = codes.get(code, 0) + 1
    print(json.dumps({"codes": codes, "backends": backends}))


def main():
    mode = sys.argv[1]
    if mode == "serve":
        fail_every, fail_code = 0, grpc.StatusCode.OK
        if len(sys.argv) > 4 and sys.argv[4] == "--fail-every":
            fail_every, fail_code = int(sys.argv[5]), grpc.StatusCode[sys.argv[6]]
        serve(int(sys.argv[2]), sys.argv[3], fail_every, fail_code)
    elif mode == "call":
        call(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "load":
        load(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
