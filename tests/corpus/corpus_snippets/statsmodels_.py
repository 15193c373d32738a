import os

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
import statsmodels.formula.api as smf


def run(tmp):
    rng = np.random.RandomState(0)
    df = pd.DataFrame({"x": rng.rand(100), "g": rng.choice(["a", "b"], 100)})
    df["y"] = 2.0 + 3.0 * df["x"] + (df["g"] == "b") + rng.normal(0, 0.1, 100)
    fit = smf.ols("y ~ x + C(g)", data=df).fit()
    data = sm.datasets.longley.load_pandas()  # a CSV shipped in the package
    path = os.path.join(tmp, "summary.txt")
    with open(path, "w") as f:
        f.write(fit.summary().as_text())
    assert abs(fit.params["x"] - 3.0) < 0.1 and len(data.data) == 16
    return "statsmodels {}: slope {:.3f}, r2 {:.3f}".format(statsmodels.__version__, fit.params["x"], fit.rsquared)
