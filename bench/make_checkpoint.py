"""Writes a fused TF GRUCell checkpoint of the given size for the benchmarks (random float32 weights).
usage: make_checkpoint.py OUT.h5 [INPUT_SIZE UNITS]   (default 2048 2048: about 100 MB)"""
import sys
import h5py
import numpy as np

out = sys.argv[1]
i, h = (int(a) for a in (sys.argv[2:4] if len(sys.argv) > 3 else (2048, 2048)))
rng = np.random.default_rng(0)
with h5py.File(out, "w") as f:
    f["rnn/gru_cell/gates/kernel"] = rng.normal(0, 0.05, (i + h, 2 * h)).astype(np.float32)
    f["rnn/gru_cell/gates/bias"] = np.ones(2 * h, np.float32)
    f["rnn/gru_cell/candidate/kernel"] = rng.normal(0, 0.05, (i + h, h)).astype(np.float32)
    f["rnn/gru_cell/candidate/bias"] = np.zeros(h, np.float32)
    f["global_step"] = np.int64(1000)
