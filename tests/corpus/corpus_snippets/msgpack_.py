import os

import msgpack
from msgpack import _cmsgpack  # noqa: F401  the C extension, not the pure-Python fallback


def run(tmp):
    data = {"ints": list(range(10)), "blob": b"\x00\xff", "text": "ünï", "nested": [{"a": 1.5}]}
    path = os.path.join(tmp, "data.msgpack")
    with open(path, "wb") as f:
        msgpack.pack(data, f)
    with open(path, "rb") as f:
        back = msgpack.unpack(f, raw=False)
    assert back == data
    return f"msgpack {'.'.join(map(str, msgpack.version))}: {os.path.getsize(path)} bytes"
