#!/usr/bin/python3
"""A gRPC test backend without protoc: generic handlers over raw bytes.

Methods (request and response messages are opaque bytes):
  /cohort.test.Echo/Unary         answers b"<version>:" + request
  /cohort.test.Echo/ServerStream  the request is an ASCII count n: n messages b"<version>:<i>"
  /cohort.test.Echo/ClientStream  one answer: b"<version>:" + all requests joined
  /cohort.test.Echo/BidiStream    echoes each request as b"<version>:" + request

--unavailable-rate answers that share of calls UNAVAILABLE (with HTTP 200, as
gRPC does), from a random source seeded by --seed. Every answer carries the
trailing metadata x-version: <version>. Prints "listening on PORT" when ready.

Debian's python3-grpcio is enough: run it with /usr/bin/python3.
"""

import argparse
import random
import signal
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "cohort.test.Echo"


class Echo:
    def __init__(self, version, unavailable_rate, seed):
        self.version = version.encode()
        self.rate = unavailable_rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def _fail(self, context):
        with self.lock:
            fail = self.random.random() < self.rate
        context.set_trailing_metadata((("x-version", self.version.decode()),))
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "injected unavailability")

    def unary(self, request, context):
        self._fail(context)
        return self.version + b":" + request

    def server_stream(self, request, context):
        self._fail(context)
        try:
            n = int(request.decode() or "0")
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is a count")
        for i in range(n):
            yield self.version + b":" + str(i).encode()

    def client_stream(self, request_iterator, context):
        self._fail(context)
        return self.version + b":" + b"".join(request_iterator)

    def bidi_stream(self, request_iterator, context):
        self._fail(context)
        for request in request_iterator:
            yield self.version + b":" + request


def identity(b):
    return b


def handlers(echo):
    methods = {
        "Unary": grpc.unary_unary_rpc_method_handler(
            echo.unary, request_deserializer=identity, response_serializer=identity),
        "ServerStream": grpc.unary_stream_rpc_method_handler(
            echo.server_stream, request_deserializer=identity, response_serializer=identity),
        "ClientStream": grpc.stream_unary_rpc_method_handler(
            echo.client_stream, request_deserializer=identity, response_serializer=identity),
        "BidiStream": grpc.stream_stream_rpc_method_handler(
            echo.bidi_stream, request_deserializer=identity, response_serializer=identity),
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--version", default="v1.0")
    p.add_argument("--unavailable-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tls-cert", help="serve TLS (ALPN h2) with this PEM certificate chain")
    p.add_argument("--tls-key", help="its private key")
    p.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if not 0.0 <= args.unavailable_rate <= 1.0:
        p.error("--unavailable-rate is a share in [0, 1]")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    server.add_generic_rpc_handlers((handlers(Echo(args.version, args.unavailable_rate,
                                                   args.seed)),))
    if args.tls_cert:
        with open(args.tls_key, "rb") as k, open(args.tls_cert, "rb") as c:
            pair = (k.read(), c.read())
        root = None
        if args.tls_client_ca:
            with open(args.tls_client_ca, "rb") as f:
                root = f.read()
        credentials = grpc.ssl_server_credentials(
            [pair], root_certificates=root, require_client_auth=root is not None)
        port = server.add_secure_port(f"{args.host}:{args.port}", credentials)
    else:
        port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    server.start()
    print(f"listening on {port}", flush=True)

    done = threading.Event()

    def stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    done.wait()
    # A grace period: GOAWAY to clients, calls in flight finish.
    server.stop(grace=1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
