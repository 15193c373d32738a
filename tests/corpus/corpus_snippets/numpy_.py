import os

import numpy as np


def run(tmp):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 64))
    inv = np.linalg.inv(a @ a.T + 64 * np.eye(64))  # LAPACK through the wheel's OpenBLAS
    spectrum = np.abs(np.fft.rfft(np.sin(np.linspace(0, 8 * np.pi, 256))))
    path = os.path.join(tmp, "arrays.npz")
    np.savez_compressed(path, inv=inv, spectrum=spectrum)
    back = np.load(path)
    assert np.allclose(back["inv"], inv) and int(np.argmax(back["spectrum"])) == 4
    return f"numpy {np.__version__}: inv ok, fft peak {int(np.argmax(spectrum))}"
