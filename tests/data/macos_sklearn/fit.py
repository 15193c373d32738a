"""Trains a small model at import: the macOS bundle's numpy and scikit-learn at work."""

import sys

import numpy
import sklearn
from sklearn.linear_model import LinearRegression

x = numpy.arange(10, dtype=float).reshape(-1, 1)
model = LinearRegression().fit(x, 3 * x.ravel() + 1)
print(f"[PYTHON] {sys.version_info[0]}.{sys.version_info[1]}")
print(f"[VERSIONS] numpy {numpy.__version__}, scikit-learn {sklearn.__version__}")
print(f"[FIT] slope {model.coef_[0]:.2f} intercept {model.intercept_:.2f}")
