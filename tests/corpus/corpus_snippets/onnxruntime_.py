"""onnxruntime without the onnx package: the model (Z = X @ W + B) is written
as protobuf bytes by hand, per onnx.proto."""

import os

import numpy as np
import onnxruntime as ort


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, value):
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _tensor_info(name, dims):
    shape = b"".join(_field(1, _field(1, d)) for d in dims)  # TensorShapeProto.dim.dim_value
    tensor = _field(1, 1) + _field(2, shape)  # elem_type FLOAT, shape
    return _field(1, name) + _field(2, _field(1, tensor))  # ValueInfoProto{name, type{tensor_type}}


def _initializer(name, array):
    dims = b"".join(_field(1, d) for d in array.shape)
    return dims + _field(2, 1) + _field(8, name) + _field(9, array.astype("<f4").tobytes())  # dims, FLOAT, name, raw_data


def model_bytes(w, b):
    matmul = _field(1, "X") + _field(1, "W") + _field(2, "XW") + _field(4, "MatMul")
    add = _field(1, "XW") + _field(1, "B") + _field(2, "Z") + _field(4, "Add")
    graph = (
        _field(1, matmul)
        + _field(1, add)
        + _field(2, "g")
        + _field(5, _initializer("W", w))
        + _field(5, _initializer("B", b))
        + _field(11, _tensor_info("X", [2, 3]))
        + _field(12, _tensor_info("Z", [2, 2]))
    )
    return _field(1, 7) + _field(7, graph) + _field(8, _field(2, 13))  # ir_version 7, graph, opset 13


def run(tmp):
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.array([0.5, -0.5], dtype=np.float32)
    path = os.path.join(tmp, "affine.onnx")
    with open(path, "wb") as f:
        f.write(model_bytes(w, b))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.ones((2, 3), dtype=np.float32)
    (z,) = session.run(None, {"X": x})
    assert np.allclose(z, x @ w + b)
    return f"onnxruntime {ort.__version__}: {z[0].tolist()}"
