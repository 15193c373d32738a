"""A gRPC server and client in one process over 127.0.0.1, with generic handlers."""

from concurrent import futures

import grpc


def _upper(request, context):
    return request.upper()


def run(tmp):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "corpus.Echo",
        {
            "Upper": grpc.unary_unary_rpc_method_handler(_upper, request_deserializer=bytes, response_serializer=bytes),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/corpus.Echo/Upper", request_serializer=bytes, response_deserializer=bytes)
            answer = call(b"hello grpc", timeout=20)
    finally:
        server.stop(None)
    assert answer == b"HELLO GRPC"
    return f"grpcio {grpc.__version__}: {answer.decode()}"
