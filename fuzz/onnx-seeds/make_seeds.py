"""Small crafted ONNX models seeding gru-fuzz-onnx (fuzz/run.sh SECONDS onnx), each reaching a part of the reader
that the framework-made fixtures do not: typed fields (float_data, float16 bit patterns in int32_data, int64_data),
external data in the harness's fixed input.onnx.data, a bidirectional layer without B, the optional attributes
(activations, clip, layout 1), a two-layer stack, a GRU fed by another node. Needs onnx and numpy (the torch venv):

    /root/venvs/torch/bin/python fuzz/onnx-seeds/make_seeds.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
H, I = 2, 3


def values(shape, start=0.0):
    return (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 8 + start).astype(np.float32)


def gru(name, x, w, r, b="", **attrs):
    return helper.make_node("GRU", [x, w, r, b] if b else [x, w, r], [name + "_Y", name + "_Yh"], name=name, **attrs)


def save(name, nodes, initializers, inputs=("X",), ir=8, opset=14):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(i, TensorProto.FLOAT, [1, 1, I]) for i in inputs],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir, producer_name="make_seeds")
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def main():
    raw = [numpy_helper.from_array(values((1, 3 * H, I)), "W"), numpy_helper.from_array(values((1, 3 * H, H)), "R"),
           numpy_helper.from_array(values((1, 6 * H)), "B")]
    save("raw_forward", [gru("/rnn/GRU", "X", "W", "R", "B", hidden_size=H, linear_before_reset=1, direction="forward")], raw)

    typed = [helper.make_tensor("W", TensorProto.FLOAT, [2, 3 * H, I], values((2, 3 * H, I)).ravel().tolist()),
             helper.make_tensor("R", TensorProto.FLOAT, [2, 3 * H, H], values((2, 3 * H, H)).ravel().tolist())]
    save("typed_bidirectional_no_bias", [gru("bi", "X", "W", "R", hidden_size=H, direction="bidirectional",
                                             activations=["Sigmoid", "Tanh", "Sigmoid", "Tanh"], clip=3.5, layout=1)], typed)

    half = values((1, 3 * H, I)).astype(np.float16).view(np.uint16).ravel().tolist()
    halves = [helper.make_tensor("W", TensorProto.FLOAT16, [1, 3 * H, I], half),
              helper.make_tensor("R", TensorProto.FLOAT16, [1, 3 * H, H], values((1, 3 * H, H)).astype(np.float16).view(np.uint16).ravel().tolist()),
              helper.make_tensor("shape", TensorProto.INT64, [3], [0, 0, -1])]
    save("float16_int32_data", [gru("", "X", "W", "R", hidden_size=H, linear_before_reset=0, direction="reverse")], halves)

    external = []
    for name, shape, offset in (("W", (1, 3 * H, I), 0), ("R", (1, 3 * H, H), 72)):
        t = numpy_helper.from_array(values(shape), name)
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "input.onnx.data"), ("offset", str(offset)), ("length", str(4 * int(np.prod(shape))))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        external.append(t)
    save("external_data", [gru("gru", "X", "W", "R", hidden_size=H, linear_before_reset=1)], external)

    stack = raw + [numpy_helper.from_array(values((1, 3 * H, H)), "W2"), numpy_helper.from_array(values((1, 3 * H, H)), "R2")]
    save("two_layers", [gru("l0", "X", "W", "R", "B", hidden_size=H, linear_before_reset=1),
                        helper.make_node("Squeeze", ["l0_Y"], ["x1"], name="squeeze"),
                        gru("l1", "x1", "W2", "R2", hidden_size=H, linear_before_reset=1)], stack)

    save("computed_weight", [helper.make_node("Identity", ["W0"], ["W"], name="copy"),
                             gru("g", "X", "W", "R", hidden_size=H)], [numpy_helper.from_array(values((1, 3 * H, I)), "W0"), raw[1]])


if __name__ == "__main__":
    main()
