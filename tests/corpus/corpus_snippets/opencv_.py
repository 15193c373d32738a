import os

import cv2  # its loader reads config.py and config-3.py as data
import numpy as np


def run(tmp):
    img = np.zeros((60, 80, 3), np.uint8)
    cv2.rectangle(img, (10, 10), (50, 40), (0, 255, 0), -1)
    blurred = cv2.GaussianBlur(img, (5, 5), 0)
    edges = cv2.Canny(cv2.cvtColor(blurred, cv2.COLOR_BGR2GRAY), 50, 150)
    path = os.path.join(tmp, "edges.png")
    assert cv2.imwrite(path, edges)
    back = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    ok, jpeg = cv2.imencode(".jpg", img)
    assert ok and back.shape == (60, 80) and int((back > 0).sum()) > 50
    return f"opencv {cv2.__version__}: {int((back > 0).sum())} edge pixels, jpeg {len(jpeg)} bytes"
