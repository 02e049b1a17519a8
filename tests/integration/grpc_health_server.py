#!/usr/bin/python3
"""A grpcio server for tests/integration/grpc_health_test.cpp.

grpc.health.v1.Health/Check is written by hand (Debian has no grpcio-health-checking): a generic
handler with raw bytes in and out, the HealthCheckRequest and HealthCheckResponse protobufs
encoded and decoded here.

  grpc_health_server.py DIR [--without-health]

  DIR/port    written once the server listens (whole, by a rename): its port on 127.0.0.1
  DIR/status  read at every call: SERVING, NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN
              (absent: SERVING); the test rewrites it to flip the answer
  DIR/calls   one line per call answered: the service it asked about ("" = the whole server)

--without-health registers no service at all: every call is UNIMPLEMENTED, as on a server
that does not implement the health protocol.
"""

import os
import sys
from concurrent import futures

import grpc

SERVING_STATUS = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def requested_service(request):
    """HealthCheckRequest.service (field 1, length-delimited); other fields are passed over."""
    service, at = "", 0
    while at < len(request):
        tag, at = read_varint(request, at)
        if tag & 7 == 0:
            _, at = read_varint(request, at)
            continue
        length, at = read_varint(request, at)  # this test's peer only sends length-delimited
        if tag >> 3 == 1:
            service = request[at:at + length].decode()
        at += length
    return service


def check_response(status):
    """HealthCheckResponse{status}; UNKNOWN is the default, which proto3 leaves out."""
    return b"" if status == 0 else bytes([0x08, status])


def main():
    directory = sys.argv[1]
    with_health = "--without-health" not in sys.argv[2:]

    def check(request, context):
        try:
            with open(os.path.join(directory, "status")) as f:
                name = f.read().strip()
        except FileNotFoundError:
            name = "SERVING"
        with open(os.path.join(directory, "calls"), "a") as f:
            f.write(requested_service(request) + "\n")
        return check_response(SERVING_STATUS[name])

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if with_health:
        handler = grpc.unary_unary_rpc_method_handler(
            check, request_deserializer=None, response_serializer=None)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    port_file = os.path.join(directory, "port")
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
