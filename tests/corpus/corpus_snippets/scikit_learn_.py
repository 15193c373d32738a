import os
import pickle

import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score


def run(tmp):
    X, y = load_iris(return_X_y=True)  # a CSV the package ships as data
    model = RandomForestClassifier(n_estimators=20, random_state=0)
    scores = cross_val_score(model, X, y, cv=3, n_jobs=2)  # loky workers start sys.executable
    model.fit(X, y)
    path = os.path.join(tmp, "model.pkl")
    with open(path, "wb") as f:
        pickle.dump(model, f)
    with open(path, "rb") as f:
        again = pickle.load(f)
    assert (again.predict(X) == model.predict(X)).all() and scores.mean() > 0.8
    return f"scikit-learn {sklearn.__version__}: iris cv {np.round(scores, 2).tolist()}"
