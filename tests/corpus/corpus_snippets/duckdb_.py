import os

import duckdb


def run(tmp):
    csv = os.path.join(tmp, "in.csv")
    with open(csv, "w") as f:
        f.write("k,v\na,1\nb,2\na,3\n")
    con = duckdb.connect(os.path.join(tmp, "db.duckdb"))
    rows = con.execute("SELECT k, sum(v) AS s FROM read_csv_auto(?) GROUP BY k ORDER BY k", [csv]).fetchall()
    out = os.path.join(tmp, "out.parquet")
    con.execute(f"COPY (SELECT * FROM read_csv_auto('{csv}')) TO '{out}' (FORMAT PARQUET)")
    n = con.execute("SELECT count(*) FROM read_parquet(?)", [out]).fetchone()[0]
    con.close()
    assert [tuple(r) for r in rows] == [("a", 4), ("b", 2)] and n == 3
    return f"duckdb {duckdb.__version__}: {rows}"
