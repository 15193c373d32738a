import os

import numpy as np
import xgboost as xgb


def run(tmp):
    rng = np.random.RandomState(0)
    X = rng.rand(300, 4)
    y = 3 * X[:, 0] - 2 * X[:, 2]
    booster = xgb.train({"max_depth": 3, "nthread": 2}, xgb.DMatrix(X, label=y), num_boost_round=30)
    path = os.path.join(tmp, "model.json")
    booster.save_model(path)
    again = xgb.Booster(model_file=path)
    rmse = float(np.sqrt(np.mean((again.predict(xgb.DMatrix(X)) - y) ** 2)))
    assert rmse < 0.2
    return f"xgboost {xgb.__version__}: rmse {rmse:.3f}"
