"""Tiny scikit-learn model driven from Go by the sklearn example."""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score


def _data():
    """Two features, eight rows, two well-separated classes."""
    X = np.array([
        [0.0, 0.0], [0.5, 1.0], [1.0, 0.5], [1.0, 1.0],
        [5.0, 5.0], [5.5, 6.0], [6.0, 5.5], [6.0, 6.0],
    ])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    return X, y


def predict():
    """Fit a LogisticRegression and return its predictions, e.g. '[0 1 0 1]'."""
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    points = np.array([[0.5, 0.5], [5.5, 5.5], [1.0, 0.0], [6.0, 5.0]])
    return str(model.predict(points))


def cv_scores():
    """Return 3-fold cross-validation scores (two worker jobs) as a string."""
    X, y = _data()
    scores = cross_val_score(LogisticRegression(), X, y, cv=3, n_jobs=2)
    return str(np.round(scores, 2))
