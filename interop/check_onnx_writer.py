"""Checks ONNX models written by gru-convert's ONNXWriter with the ONNX tools themselves: onnx.checker (full check,
shape inference included) and onnxruntime, whose output Y is compared with a fixture's reference run of the same
weights. Needs onnx, onnxruntime, h5py, numpy (the torch venv: /root/venvs/torch/bin/python).

    python interop/check_onnx_writer.py --reference fixtures/frameworks/torch_gru2_bidir.onnx.reference.h5 \
        --batch-first written.onnx [more.onnx ...]

REFERENCE is an F.reference.h5 of fixtures/frameworks (group `model`: model_inputs, model_outputs, the model's own
shapes). The written model is time-major (X [sequence, batch, I], Y [sequence, batch, D*H]): --batch-first says the
reference is [batch, sequence, ...] (a batch_first torch model), and a reference Y of [T, 1, B, H] (an ONNX GRU's own
Y, D = 1) is compared as [T, B, H]. Prints the max abs diff per file; exits 1 if a check fails or a diff exceeds
--tolerance (default 1e-5).
"""
import argparse
import sys

import h5py
import numpy as np
import onnx
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True)
    parser.add_argument("--batch-first", action="store_true")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    with h5py.File(args.reference, "r") as f:
        x, want = f["model/model_inputs"][()], f["model/model_outputs"][()]
    if args.batch_first:
        x, want = x.transpose(1, 0, 2).copy(), want.transpose(1, 0, 2).copy()
    elif want.ndim == 4:
        want = want.reshape(want.shape[0], want.shape[2], -1)
    failed = False
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    for path in args.models:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        outputs = session.run(None, {"X": x})
        names = [o.name for o in session.get_outputs()]
        y = outputs[names.index("Y")]
        diff = float(np.max(np.abs(y.astype(np.float64) - want.astype(np.float64))))
        shapes = ", ".join(f"{n} {list(o.shape)}" for n, o in zip(names, outputs))
        print(f"{path}: onnx.checker (full) passed; onnxruntime outputs {shapes}; Y vs {args.reference}: max abs diff {diff:.3g}")
        failed |= not diff <= args.tolerance
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
