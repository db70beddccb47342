"""Writes the two TensorFlow checkpoints of bench_checkpoint.py, with TensorFlow itself (tf.compat.v1 graphs,
tf.compat.v1.train.Saver, V2 format, as TensorFlow 1 programs save):

    DIR/many/model.ckpt   5,000 variables: 8 real GRUCell(4) cells (dynamic_rnn, I = 4; 4 variables each) and
                          4,968 float32 [4, 4] variables under varied scopes (`model/block_NN/layer_NN/dense/kernel`,
                          `.../norm/gamma`, ...); index about 0.3 MB, data about 0.3 MB
    DIR/big/model.ckpt    one TF1 GRUCell, I = H = 6400 (dynamic_rnn, scope rnn/gru_cell, glorot-uniform weights
                          drawn by TensorFlow): gates/kernel [12800, 12800], candidate/kernel [12800, 6400] and
                          the biases, float32, plus global_step: a 983 MB data file

usage: TF_USE_LEGACY_KERAS=1 ~/venvs/tf/bin/python bench/make_big_checkpoint.py [DIR] [many|big ...]
       (DIR defaults to /tmp/gru-bench-ckpt; both checkpoints unless named; an existing one is kept)
Peak memory: about 2.1 GB for `big` (the variables, and the initializer's temporary of the largest one)."""
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")      # tf.compat.v1.nn.rnn_cell.GRUCell needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

directory = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1] in ("many", "big") else "/tmp/gru-bench-ckpt"
which = [a for a in sys.argv[1:] if a in ("many", "big")] or ["many", "big"]
TOTAL = 5000
GRU_CELLS = 8
BIG_SIZE = 6400

import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()
GRUCell = tf.compat.v1.nn.rnn_cell.GRUCell


def save(graph_builder, prefix):
    if os.path.exists(prefix + ".index"):
        print(f"kept {prefix} (exists)")
        return
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    t0 = time.perf_counter()
    graph = tf.Graph()
    with graph.as_default():
        graph_builder()
        global_step = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(global_step.assign(1000))
            saver.save(session, prefix)
    data = prefix + ".data-00000-of-00001"
    print(f"wrote {prefix}: index {os.path.getsize(prefix + '.index') / 1e6:.2f} MB, "
          f"data {os.path.getsize(data) / 1e6:.1f} MB, {time.perf_counter() - t0:.0f} s")


def many():
    """8 GRU cells + 4,968 [4, 4] variables + global_step would be 5,001; the 8 cells' 32 variables count."""
    for c in range(GRU_CELLS):
        x = tf.compat.v1.placeholder(tf.float32, [None, None, 4], name=f"x{c}")
        scope = f"encoder/layer_{c}" if c < GRU_CELLS // 2 else f"decoder/layer_{c - GRU_CELLS // 2}"
        tf.compat.v1.nn.dynamic_rnn(GRUCell(4), x, dtype=tf.float32, scope=scope)
    kinds = ["dense/kernel", "dense/bias_matrix", "norm/gamma", "norm/beta", "attention/query",
             "attention/key", "attention/value", "attention/output"]
    rest = TOTAL - 4 * GRU_CELLS - 1                 # global_step is one of the 5,000
    init = tf.compat.v1.random_normal_initializer(0, 0.05, seed=0)
    for n in range(rest):
        block, layer, kind = n // 400, (n // len(kinds)) % 50, kinds[n % len(kinds)]
        tf.compat.v1.get_variable(f"model/block_{block:02d}/layer_{layer:02d}/{kind}", [4, 4], tf.float32, init)


def big():
    x = tf.compat.v1.placeholder(tf.float32, [None, None, BIG_SIZE], name="x")
    tf.compat.v1.nn.dynamic_rnn(GRUCell(BIG_SIZE), x, dtype=tf.float32)


for name in which:
    save({"many": many, "big": big}[name], os.path.join(directory, name, "model.ckpt"))
