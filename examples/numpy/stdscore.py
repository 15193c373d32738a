"""Called from Go with an ndarray that wraps a Go []float64 (no copy)."""

import numpy as np

version = np.__version__


def standardize(x):
    """Scale x in place to mean 0 and standard deviation 1; return its old standard deviation."""
    std = float(np.std(x))
    x -= x.mean()
    x /= std
    return std
