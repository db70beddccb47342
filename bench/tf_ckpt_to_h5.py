"""The script a user writes to turn a TensorFlow checkpoint into HDF5 (the peer of `gru-convert convert
CHECKPOINT out.h5` in bench_checkpoint.py): TensorFlow's own reader, every tensor written by h5py under its
checkpoint name, nothing split or renamed (the form `gru-convert convert --to fused` writes).

usage: ~/venvs/tf/bin/python bench/tf_ckpt_to_h5.py PREFIX OUT.h5"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py  # noqa: E402
import tensorflow as tf  # noqa: E402

prefix, out = sys.argv[1], sys.argv[2]
reader = tf.train.load_checkpoint(prefix)
with h5py.File(out, "w") as f:
    for name in sorted(reader.get_variable_to_shape_map()):
        f[name] = reader.get_tensor(name)
