import os

import shapely
from shapely import wkb, wkt
from shapely.geometry import Point, Polygon


def run(tmp):
    square = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)])
    disc = Point(4, 4).buffer(2, 64)
    overlap = square.intersection(disc)
    path = os.path.join(tmp, "shape.wkb")
    with open(path, "wb") as f:
        f.write(wkb.dumps(overlap))
    with open(path, "rb") as f:
        back = wkb.loads(f.read())
    assert abs(back.area - 3.1396) < 0.01 and wkt.loads(wkt.dumps(square)).equals(square)
    return f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}): overlap area {back.area:.4f}"
