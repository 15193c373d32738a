import os

import zstandard


def run(tmp):
    data = b"gopack corpus " * 5000
    path = os.path.join(tmp, "data.zst")
    with open(path, "wb") as f, zstandard.ZstdCompressor(level=10).stream_writer(f) as writer:
        writer.write(data)
    with open(path, "rb") as f:
        back = zstandard.ZstdDecompressor().stream_reader(f).read()
    assert back == data
    return f"zstandard {zstandard.__version__} ({zstandard.backend}): {len(data)} -> {os.path.getsize(path)} bytes"
