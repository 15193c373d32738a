import os

import polars as pl


def run(tmp):
    df = pl.DataFrame({"k": ["a", "b", "a", "c"], "v": [1, 2, 3, 4]})
    by = "group_by" if hasattr(df, "group_by") else "groupby"
    sums = getattr(df.lazy(), by)("k").agg(pl.col("v").sum().alias("s")).sort("k").collect()
    path = os.path.join(tmp, "df.parquet")
    df.write_parquet(path)
    back = pl.read_parquet(path)
    df.write_ipc(os.path.join(tmp, "df.arrow"))
    assert back.frame_equal(df) if hasattr(back, "frame_equal") else back.equals(df)
    assert sums["s"].to_list() == [4, 2, 4]
    return "polars {}: {}".format(pl.__version__, dict(zip(sums["k"].to_list(), sums["s"].to_list())))
