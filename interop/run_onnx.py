"""Worker: ONNX / onnxruntime. Run with either venv (onnx, onnxruntime, h5py; imports no framework):
python run_onnx.py JOBS.json.

check: onnx.checker.check_model(OUT, full_check=True), onnxruntime.InferenceSession(OUT); then for GRU node k
(graph order) = layer k and each direction d, the node's W[d], R[d], B[d] (found through the node's inputs 1, 2,
3, as FRAMEWORK_LAYOUTS.md 4.4 says) are put into a one-node forward GRU graph (the node's hidden_size and
linear_before_reset, initial_h a graph input) run by onnxruntime on the source reference's inputs and initial state.
The whole model: the session on the reference's model inputs (time-major X [T, B, I], any other graph input fed
zeros), first output Y [T, D, B, H] or [T, B, D*H].
negative_swap_zr: z and r row blocks of every node's W swapped in a temp copy."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

import common  # noqa: E402
from common import maxdiff, model_io, read_group, swap_blocks, temp_copy  # noqa: E402


def versions():
    return {"onnx": onnx.__version__, "onnxruntime": ort.__version__}


def session(src):
    o = ort.SessionOptions()
    o.intra_op_num_threads = o.inter_op_num_threads = 1
    return ort.InferenceSession(src, o, providers=["CPUExecutionProvider"])


def initializer(model, name, base):
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t, base_dir=base)
    raise KeyError(f"initializer {name!r} not found (a GRU weight must be an initializer)")


def attrs(node):
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    d = a.get("direction", b"forward")
    a["direction"] = d.decode() if isinstance(d, bytes) else d
    return a


def single_cell(W, R, B, hidden, lbr, steps, batch):
    TP = onnx.TensorProto.FLOAT
    node = helper.make_node("GRU", ["X", "W", "R", "B", "", "initial_h"], ["Y", "Y_h"], hidden_size=hidden,
                            linear_before_reset=lbr, direction="forward")
    g = helper.make_graph([node], "cell",
                          [helper.make_tensor_value_info("X", TP, [steps, batch, W.shape[1]]),
                           helper.make_tensor_value_info("initial_h", TP, [1, batch, hidden])],
                          [helper.make_tensor_value_info("Y", TP, [steps, 1, batch, hidden]),
                           helper.make_tensor_value_info("Y_h", TP, [1, batch, hidden])],
                          [numpy_helper.from_array(W[None].astype(np.float32), "W"),
                           numpy_helper.from_array(R[None].astype(np.float32), "R"),
                           numpy_helper.from_array(B[None].astype(np.float32), "B")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(m, full_check=True)
    return m


def not_onnx(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return "the file gru-convert wrote is HDF5 (magic 89 48 44 46), not an ONNX protobuf"
    return None


def check(job, path):
    why = not_onnx(path)
    if why:
        return {"pending": why}
    onnx.checker.check_model(path, full_check=True)
    sess = session(path)
    model = onnx.load(path)
    base = os.path.dirname(os.path.abspath(path))
    nodes = [n for n in model.graph.node if n.op_type == "GRU"]
    assert len(nodes) == len(job["layers"]), f"{len(nodes)} GRU nodes for {len(job['layers'])} layers"
    res, notes = {"cells": []}, []
    for node, L in zip(nodes, job["layers"]):
        a = attrs(node)
        lbr = int(a.get("linear_before_reset", 0))
        want = 1 if L["reset_after"] else 0
        assert lbr == want, f"node {node.name}: linear_before_reset={lbr}, the source family needs {want}"
        assert a["direction"] == ("bidirectional" if L["bidirectional"] else "forward"), a["direction"]
        assert "activations" not in a or [s.decode() if isinstance(s, bytes) else s for s in a["activations"]] \
            in (["Sigmoid", "Tanh"], ["Sigmoid", "Tanh", "Sigmoid", "Tanh"]), a["activations"]
        W, R = initializer(model, node.input[1], base), initializer(model, node.input[2], base)
        H = a["hidden_size"]
        B = initializer(model, node.input[3], base) if len(node.input) > 3 and node.input[3] \
            else np.zeros((W.shape[0], 6 * H), W.dtype)
        if W.dtype == np.float64:
            notes.append("float64 weights: onnxruntime's GRU has no double kernel, cells run cast to float32")
        for d, cell in enumerate(L["cells"]):
            r = read_group(job["reference"], cell["group"])
            x, h0 = r["inputs"].astype(np.float32), r["initial_state"].astype(np.float32)
            m = single_cell(W[d], R[d], B[d], H, lbr, x.shape[1], x.shape[0])
            y = session(m.SerializeToString()).run(["Y"], {"X": x.transpose(1, 0, 2).copy(), "initial_h": h0[None]})[0]
            res["cells"].append({"scope": cell["scope"], "group": cell["group"],
                                 "diff": maxdiff(y[:, 0].transpose(1, 0, 2), r["outputs"])})
    io = model_io(job)
    if io is not None and any(i.type == "tensor(double)" for i in sess.get_inputs()):
        notes.append("whole model not run: onnxruntime 1.32 has no float64 GRU kernel (FRAMEWORK_LAYOUTS.md 4.4)")
        io = None
    if io is not None:
        x, y = io
        feed = {}
        for i, inp in enumerate(sess.get_inputs()):
            if i == 0:
                graph_x = x if job["model"].get("graph_batch_major") else x.transpose(1, 0, 2)
                feed[inp.name] = graph_x.astype(np.float32).copy()
            else:
                shape = [d if isinstance(d, int) else x.shape[0] for d in inp.shape]
                feed[inp.name] = np.zeros(shape, np.float32)
        out = sess.run(None, feed)[0]
        if out.ndim == 4:
            out = np.concatenate([out[:, d] for d in range(out.shape[1])], axis=-1)
        res["model"] = maxdiff(out if job["model"].get("graph_batch_major") else out.transpose(1, 0, 2), y)
    if notes:
        res["notes"] = sorted(set(notes))
    return res


def handle(job):
    mode = job.get("mode", "check")
    if mode == "check":
        return check(job, job["out"])
    if mode == "negative_swap_zr":
        why = not_onnx(job["out"])
        if why:
            return {"pending": why}
        path = temp_copy(job["out"])
        model = onnx.load(path)
        base = os.path.dirname(path)
        swapped = []
        for node in (n for n in model.graph.node if n.op_type == "GRU"):
            for t in model.graph.initializer:
                if t.name == node.input[1]:
                    W = numpy_helper.to_array(t, base_dir=base)
                    t.CopyFrom(numpy_helper.from_array(swap_blocks(W, 1, 0, 1, W.shape[1] // 3), t.name))
                    swapped.append(t.name)
        onnx.save(model, path)
        res = check(job, path)
        res["swapped"] = swapped
        return res
    raise ValueError(mode)


if __name__ == "__main__":
    common.main(handle, versions)
