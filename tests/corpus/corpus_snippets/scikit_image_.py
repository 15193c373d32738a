import os

import numpy as np
import skimage
from skimage import data, filters, io, measure, transform  # lazy_loader reads the packages' .pyi stubs


def run(tmp):
    camera = data.camera()  # an image the package ships as data
    smooth = filters.gaussian(camera, sigma=2)
    small = transform.resize(smooth, (64, 64), anti_aliasing=True)
    labels = measure.label(small > filters.threshold_otsu(small))
    path = os.path.join(tmp, "small.png")
    io.imsave(path, (small * 255).astype(np.uint8), check_contrast=False)
    assert io.imread(path).shape == (64, 64) and camera.shape == (512, 512)
    return f"scikit-image {skimage.__version__}: {int(labels.max())} regions"
