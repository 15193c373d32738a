import os

import numpy as np
import pandas as pd


def run(tmp):
    df = pd.DataFrame(
        {
            "city": ["a", "b", "a", "c", "b"],
            "t": np.arange(5.0),
            "when": pd.date_range("2024-03-30", periods=5, freq="D", tz="Europe/Berlin"),
        }
    )
    means = df.groupby("city")["t"].mean()
    path = os.path.join(tmp, "frame.csv")
    df.to_csv(path, index=False)
    back = pd.read_csv(path, parse_dates=["when"])
    assert len(back) == 5 and means["b"] == 2.5
    utc = df["when"].dt.tz_convert("UTC").iloc[1]  # the DST switch needs the tz database
    return f"pandas {pd.__version__}: groupby {means.to_dict()}, {utc.isoformat()}"
