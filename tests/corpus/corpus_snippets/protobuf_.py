import os

import google.protobuf
from google.protobuf import descriptor_pb2, json_format, struct_pb2, timestamp_pb2
from google.protobuf.internal import api_implementation


def run(tmp):
    s = struct_pb2.Struct()
    s.update({"name": "corpus", "n": 3, "tags": ["a", "b"]})
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString("2024-01-02T03:04:05Z")
    path = os.path.join(tmp, "msg.bin")
    with open(path, "wb") as f:
        f.write(s.SerializeToString())
    back = struct_pb2.Struct()
    with open(path, "rb") as f:
        back.ParseFromString(f.read())
    fds = descriptor_pb2.FileDescriptorSet()
    struct_pb2.DESCRIPTOR.CopyToProto(fds.file.add())
    assert back == s and ts.seconds == 1704164645 and fds.file[0].name == "google/protobuf/struct.proto"
    return f"protobuf {google.protobuf.__version__} ({api_implementation.Type()}): {json_format.MessageToJson(back, indent=None)}"
