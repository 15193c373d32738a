"""astropy imports its own tests subpackage when it is imported (``from .tests.runner
import TestRunner`` in astropy/__init__.py): the prune rule for tests folders must
leave that module."""

import os

import astropy
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table


def run(tmp):
    speed = (100 * u.km / u.h).to(u.m / u.s)
    galactic = SkyCoord(ra=10.68458 * u.deg, dec=41.26917 * u.deg, frame="icrs").galactic  # erfa, no IERS download
    table = Table({"name": ["a", "b"], "flux": [1.5, 2.5] * u.Jy})
    ecsv = os.path.join(tmp, "t.ecsv")
    table.write(ecsv)
    path = os.path.join(tmp, "img.fits")
    fits.PrimaryHDU(np.arange(12, dtype=np.float32).reshape(3, 4)).writeto(path)
    with fits.open(path) as hdul:
        total = float(hdul[0].data.sum())
    assert abs(speed.value - 27.7778) < 1e-3 and Table.read(ecsv)["flux"].unit == u.Jy and total == 66.0
    return f"astropy {astropy.__version__}: {speed:.3f}, M31 at l={galactic.l.deg:.2f} b={galactic.b.deg:.2f}"
