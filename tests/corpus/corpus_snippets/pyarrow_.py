import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def run(tmp):
    table = pa.table({"k": ["x", "y", "x", "z"], "v": [1.5, 2.0, 3.5, 4.0]})
    path = os.path.join(tmp, "t.parquet")
    pq.write_table(table, path, compression="zstd")
    back = pq.read_table(path)
    total = pc.sum(back["v"]).as_py()
    with pa.OSFile(os.path.join(tmp, "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, back.schema) as writer:
        writer.write_table(back)
    assert back.equals(table) and total == 11.0
    return f"pyarrow {pa.__version__}: parquet(zstd)+ipc round trip, sum {total}"
