import datetime
import os

import numpy as np
import orjson


def run(tmp):
    data = {"when": datetime.datetime(2024, 1, 2, 3, 4, 5), "m": np.arange(6).reshape(2, 3), "s": "ünï"}
    blob = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS)
    path = os.path.join(tmp, "data.json")
    with open(path, "wb") as f:
        f.write(blob)
    with open(path, "rb") as f:
        back = orjson.loads(f.read())
    assert back["m"] == [[0, 1, 2], [3, 4, 5]] and back["s"] == "ünï"
    return f"orjson {orjson.__version__}: {blob.decode()[:40]}"
