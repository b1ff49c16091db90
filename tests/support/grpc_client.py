"""A small gRPC client for tests, over the raw-bytes methods of
examples/grpc-backend/grpc_backend.py (no protoc). Debian python3-grpcio."""

import grpc

SERVICE = "/cohort.test.Echo/"


def _identity(b):
    return b


class EchoClient:
    """Calls return (status code name, messages or message, trailing metadata dict)."""

    def __init__(self, address, timeout=5.0):
        self.channel = grpc.insecure_channel(address)
        self.timeout = timeout

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _method(self, kind, name):
        return getattr(self.channel, kind)(SERVICE + name, request_serializer=_identity,
                                           response_deserializer=_identity)

    @staticmethod
    def _trailers(call):
        return {k: v for k, v in (call.trailing_metadata() or ())}

    def unary(self, payload, metadata=None):
        try:
            reply, call = self._method("unary_unary", "Unary").with_call(
                payload, timeout=self.timeout, metadata=metadata)
            return call.code().name, reply, self._trailers(call)
        except grpc.RpcError as e:
            return e.code().name, None, self._trailers(e)

    def server_stream(self, n, metadata=None):
        call = self._method("unary_stream", "ServerStream")(
            str(n).encode(), timeout=self.timeout, metadata=metadata)
        try:
            replies = list(call)
        except grpc.RpcError as e:
            return e.code().name, None, self._trailers(e)
        return call.code().name, replies, self._trailers(call)

    def client_stream(self, payloads, metadata=None):
        try:
            reply, call = self._method("stream_unary", "ClientStream").with_call(
                iter(payloads), timeout=self.timeout, metadata=metadata)
            return call.code().name, reply, self._trailers(call)
        except grpc.RpcError as e:
            return e.code().name, None, self._trailers(e)

    def bidi_stream(self, payloads, metadata=None):
        call = self._method("stream_stream", "BidiStream")(
            iter(payloads), timeout=self.timeout, metadata=metadata)
        try:
            replies = list(call)
        except grpc.RpcError as e:
            return e.code().name, None, self._trailers(e)
        return call.code().name, replies, self._trailers(call)

    def bidi_ping_pong(self, payloads, metadata=None, wait=5.0):
        """Full duplex: each message is sent only after the answer to the one
        before it arrived (a chat, not a batch). Through a proxy that reads
        the response only after the whole request, the first wait runs out
        and the call is cancelled."""
        import queue
        answers = queue.Queue()

        def requests():
            for p in payloads:
                yield p
                answers.get(timeout=wait)

        call = self._method("stream_stream", "BidiStream")(
            requests(), timeout=self.timeout, metadata=metadata)
        replies = []
        try:
            for reply in call:
                replies.append(reply)
                answers.put(reply)
        except grpc.RpcError as e:
            return e.code().name, replies, self._trailers(e)
        return call.code().name, replies, self._trailers(call)
