import os

import numpy as np
import scipy
from scipy import integrate, io, optimize, sparse, special
from scipy.sparse import linalg as splinalg


def run(tmp):
    best = optimize.minimize(optimize.rosen, [1.3, 0.7, 0.8], method="BFGS")
    assert np.allclose(best.x, 1.0, atol=1e-4)
    lap = sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(50, 50), format="csc")
    x = splinalg.spsolve(lap, np.ones(50))
    area, _ = integrate.quad(special.erf, 0, 1)
    path = os.path.join(tmp, "m.mat")
    io.savemat(path, {"x": x})
    assert np.allclose(io.loadmat(path)["x"].ravel(), x)
    return f"scipy {scipy.__version__}: rosen min {np.round(best.x, 3).tolist()}, quad {area:.6f}"
