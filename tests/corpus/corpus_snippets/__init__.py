"""The package corpus: one module per distribution, each with ``run(tmp) -> str``
that really uses the package (computes, encodes, writes a file into ``tmp``).

The Go driver (../main.go) asks :func:`installed` which snippets to run; a
snippet runs when its import name is installed, so one set of snippets serves
the 3.12 corpus and the 3.7 subset. The test compares the snippets that
passed with the distributions pinned in the requirements file, so a package
the bundle lost is a failure, not a skip.
"""

import importlib.util

#: snippet module -> (distributions it stands for, the top-level module it imports)
SNIPPETS = {
    "astropy_": (("astropy",), "astropy"),
    "cryptography_": (("cryptography",), "cryptography"),
    "duckdb_": (("duckdb",), "duckdb"),
    "grpcio_": (("grpcio",), "grpc"),
    "lightgbm_": (("lightgbm",), "lightgbm"),
    "lxml_": (("lxml",), "lxml"),
    "matplotlib_": (("matplotlib",), "matplotlib"),
    "msgpack_": (("msgpack",), "msgpack"),
    "numba_": (("numba", "llvmlite"), "numba"),
    "numpy_": (("numpy",), "numpy"),
    "onnxruntime_": (("onnxruntime",), "onnxruntime"),
    "opencv_": (("opencv-python-headless",), "cv2"),
    "orjson_": (("orjson",), "orjson"),
    "pandas_": (("pandas",), "pandas"),
    "pillow_": (("pillow",), "PIL"),
    "polars_": (("polars",), "polars"),
    "protobuf_": (("protobuf",), "google.protobuf"),
    "psycopg2_": (("psycopg2-binary",), "psycopg2"),
    "pyarrow_": (("pyarrow",), "pyarrow"),
    "pydantic_": (("pydantic", "pydantic-core"), "pydantic"),
    "pyyaml_": (("pyyaml",), "yaml"),
    "regex_": (("regex",), "regex"),
    "scikit_image_": (("scikit-image",), "skimage"),
    "scikit_learn_": (("scikit-learn",), "sklearn"),
    "scipy_": (("scipy",), "scipy"),
    "shapely_": (("shapely",), "shapely"),
    "sqlalchemy_": (("sqlalchemy",), "sqlalchemy"),
    "statsmodels_": (("statsmodels",), "statsmodels"),
    "tokenizers_": (("tokenizers",), "tokenizers"),
    "uvloop_": (("uvloop",), "uvloop"),
    "xgboost_": (("xgboost-cpu", "xgboost"), "xgboost"),
    "zstandard_": (("zstandard",), "zstandard"),
}


def _found(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package (google) that is missing
        return False


def installed():
    """The snippets whose package is installed, space-separated (for the Go driver)."""
    return " ".join(name for name, (_, module) in sorted(SNIPPETS.items()) if _found(module))
