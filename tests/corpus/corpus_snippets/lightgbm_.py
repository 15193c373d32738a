import os

import lightgbm as lgb
import numpy as np


def run(tmp):
    rng = np.random.RandomState(0)
    X = rng.rand(300, 4)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 2}, lgb.Dataset(X, label=y), num_boost_round=20)
    path = os.path.join(tmp, "model.txt")
    booster.save_model(path)
    again = lgb.Booster(model_file=path)
    accuracy = ((again.predict(X) > 0.5) == y).mean()
    assert accuracy > 0.9
    return f"lightgbm {lgb.__version__}: accuracy {accuracy:.2f}"
