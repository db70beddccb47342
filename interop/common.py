"""Shared by the workers (run_*.py): job I/O, reference reading, corruption of a temp copy for negative controls.
Needs numpy and h5py only (present in both venvs). Imports no framework."""
import json
import os
import shutil
import sys
import tempfile
import traceback

import h5py
import numpy as np


def maxdiff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)))


def read_group(ref, group):
    with h5py.File(ref, "r") as f:
        g = f[group]
        return {k: g[k][()] for k in ("inputs", "initial_state", "outputs")}


def read_model(ref):
    with h5py.File(ref, "r") as f:
        if "model" not in f:
            return None
        return {k: f["model"]["model_" + k][()] for k in ("inputs", "outputs")}


def model_io(job):
    """(inputs [B,T,I], expected outputs [B,T,D*H]) from the source reference's model group, or None."""
    spec = job.get("model")
    if not spec:
        return None
    m = read_model(job["reference"])
    x, y = m["inputs"], m["outputs"]
    if spec.get("squeeze_dir_axis"):          # ONNX Y [T, D, B, H] -> [T, B, D*H]
        y = np.concatenate([y[:, d] for d in range(y.shape[1])], axis=-1)
    if spec.get("time_major"):
        x, y = x.transpose(1, 0, 2), y.transpose(1, 0, 2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def swap_blocks(a, axis, first, second, H):
    """Swaps gate blocks `first` and `second` (0..2) of size H along `axis` (a copy)."""
    a = np.array(a)
    idx = np.arange(a.shape[axis])
    i, j = idx[first * H:(first + 1) * H].copy(), idx[second * H:(second + 1) * H].copy()
    idx[first * H:(first + 1) * H], idx[second * H:(second + 1) * H] = j, i
    return np.take(a, idx, axis=axis)


def corrupt_h5(path, dataset_filter, axis, first, second, H):
    """In-place: swaps gate blocks of every dataset whose name passes dataset_filter."""
    done = []
    with h5py.File(path, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and dataset_filter(n) else None)
        for n in names:
            v = f[n][()]
            ax = axis if v.ndim > 1 else 0
            f[n][...] = swap_blocks(v, ax, first, second, H or v.shape[ax] // 3)
            done.append(n)
    return done


def temp_copy(path):
    d = tempfile.mkdtemp(prefix="interop_")
    out = os.path.join(d, os.path.basename(path))
    shutil.copyfile(path, out)
    if os.path.exists(path + ".data"):
        shutil.copyfile(path + ".data", out + ".data")
    return out


def main(handle, versions):
    """Reads a JSON list of jobs from argv[1], runs handle(job) on each (errors caught per job), prints JSON."""
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    results = []
    for job in jobs:
        try:
            res = handle(job)
        except Exception as e:  # noqa: BLE001 -- reported per job
            res = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:600],
                   "traceback": traceback.format_exc()[-1500:]}
        res["id"] = job["id"]
        results.append(res)
    sys.stdout.write("\n@@RESULTS@@" + json.dumps({"versions": versions(), "results": results}) + "\n")
