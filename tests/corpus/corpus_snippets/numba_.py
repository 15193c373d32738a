import numba
import numpy as np
from numba import njit, vectorize


@njit(cache=False)
def _pairwise_sum(a):
    total = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[0]):
            total += abs(a[i] - a[j])
    return total


@vectorize(["float64(float64, float64)"])
def _hypot(x, y):
    return (x * x + y * y) ** 0.5


def run(tmp):
    a = np.arange(100, dtype=np.float64)
    total = _pairwise_sum(a)  # compiled by llvmlite's LLVM
    h = _hypot(np.array([3.0, 5.0]), np.array([4.0, 12.0]))
    assert total == 333300.0 and h.tolist() == [5.0, 13.0]
    return f"numba {numba.__version__}: pairwise {total:.0f}, hypot {h.tolist()}"
