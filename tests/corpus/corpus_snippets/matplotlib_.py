import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def run(tmp):
    fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
    ax.plot([0, 1, 2, 3], [1, 3, 2, 4], label="série")
    ax.set_title("Ünïcode title")  # glyphs from the bundled DejaVu font through ft2font
    ax.legend()
    png, svg = os.path.join(tmp, "plot.png"), os.path.join(tmp, "plot.svg")
    fig.savefig(png)
    fig.savefig(svg)
    plt.close(fig)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return f"matplotlib {matplotlib.__version__}: png {os.path.getsize(png)} bytes, svg {os.path.getsize(svg)} bytes"
