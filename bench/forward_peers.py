"""The peers of bench/bench_forward.py, one framework per process (TensorFlow and torch are never imported
into one process): times the forward pass of a GRU over a batch of sequences on CPU and prints one JSON
line per shape: {"impl", "shape": [I, H, B, T], "ms": [each timed run], "threads", "version"}.

usage: python3 bench/forward_peers.py MODE --threads N --repeats R I,H,B,T [I,H,B,T ...]
  tensorflow  TensorFlow's own GRUCell (tf.compat.v1.nn.dynamic_rnn, graph mode): the reset-before family.
              Needs tensorflow-cpu and tf-keras (fixtures/requirements.txt). intra- and inter-op pools of N.
  torch       PyTorch's nn.GRU (batch_first, inference_mode): the reset-after family. Needs torch.
              torch.set_num_threads(N), one inter-op thread. Also checks the NumPy cell against nn.GRU.
  numpy       The same math as nn.GRU in NumPy (gru_numpy_reset_after below): input projections of all
              steps in one product, then h·W_hh per step. OPENBLAS_NUM_THREADS=N (set before the import).
Each shape: one untimed run, then R timed runs.
"""
import json, os, sys, time

mode = sys.argv[1] if len(sys.argv) > 1 else ""
args = sys.argv[2:]
threads, repeats, shapes = 1, 5, []
while args:
    a = args.pop(0)
    if a == "--threads":
        threads = int(args.pop(0))
    elif a == "--repeats":
        repeats = int(args.pop(0))
    else:
        shapes.append(tuple(int(v) for v in a.split(",")))
if mode not in ("tensorflow", "torch", "numpy") or not shapes:
    sys.exit(__doc__)

# Thread counts of every BLAS and OpenMP runtime a framework may bring, before any of them is loaded.
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(threads)
import numpy as np


def timed(run):
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def report(impl, shape, times, version, **extra):
    print(json.dumps({"impl": impl, "shape": list(shape), "ms": times, "threads": threads, "version": version, **extra}),
          flush=True)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def gru_numpy_reset_after(x, h0, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's nn.GRU, one layer, batch_first: x [B, T, I], h0 [B, H], w_ih [3H, I], w_hh [3H, H] (gates r, z, n),
    b_ih, b_hh [3H]. r = σ(x·W_ir + b_ir + h·W_hr + b_hr), z = σ(x·W_iz + b_iz + h·W_hz + b_hz),
    n = tanh(x·W_in + b_in + r∘(h·W_hn + b_hn)), h' = (1 − z)∘n + z∘h. Returns the states [B, T, H]."""
    b, t, i = x.shape
    h = h0.shape[1]
    wi, wh = np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T)  # [I, 3H], [H, 3H]
    xa = (x.reshape(b * t, i) @ wi + b_ih).reshape(b, t, 3 * h)
    out = np.empty((b, t, h), np.float32)
    state = h0
    for step in range(t):
        hu = state @ wh + b_hh
        a = xa[:, step]
        rz = sigmoid(a[:, :2 * h] + hu[:, :2 * h])
        r, z = rz[:, :h], rz[:, h:]
        n = np.tanh(a[:, 2 * h:] + r * hu[:, 2 * h:])
        state = (1 - z) * n + z * state
        out[:, step] = state
    return out


def random_cell(i, h, rng):
    scale = 1 / np.sqrt(h)
    return [rng.uniform(-scale, scale, shape).astype(np.float32) for shape in ((3 * h, i), (3 * h, h), (3 * h,), (3 * h,))]


if mode == "tensorflow":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import warnings
    warnings.filterwarnings("ignore")
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    tf.get_logger().setLevel("ERROR")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    for (i, h, b, t) in shapes:
        x = np.random.default_rng(0).normal(0, 1, (b, t, i)).astype(np.float32)
        graph = tf.Graph()
        with graph.as_default():
            xp = tf.compat.v1.placeholder(tf.float32, [b, t, i])
            _, state = tf.compat.v1.nn.dynamic_rnn(tf.compat.v1.nn.rnn_cell.GRUCell(h), xp, dtype=tf.float32)
            with tf.compat.v1.Session(graph=graph, config=config) as s:
                s.run(tf.compat.v1.global_variables_initializer())
                report("tensorflow", (i, h, b, t), timed(lambda: s.run(state, {xp: x})), tf.__version__)

elif mode == "torch":
    import torch
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    rng = np.random.default_rng(0)
    # The NumPy cell computes what nn.GRU computes (checked here, where both are at hand).
    gru = torch.nn.GRU(5, 6, batch_first=True)
    x, h0 = rng.normal(0, 1, (3, 7, 5)).astype(np.float32), rng.uniform(-0.9, 0.9, (3, 6)).astype(np.float32)
    with torch.inference_mode():
        expected = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])[0].numpy()
    params = [p.detach().numpy() for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
    numpy_vs_torch = float(np.abs(gru_numpy_reset_after(x, h0, *params) - expected).max())
    for (i, h, b, t) in shapes:
        gru = torch.nn.GRU(i, h, batch_first=True).eval()
        x = torch.from_numpy(rng.normal(0, 1, (b, t, i)).astype(np.float32))
        h0 = torch.zeros(1, b, h)
        with torch.inference_mode():
            times = timed(lambda: gru(x, h0))
        report("torch", (i, h, b, t), times, torch.__version__, numpy_vs_torch_max_abs=numpy_vs_torch,
               torch_threads=torch.get_num_threads())

else:
    rng = np.random.default_rng(0)
    for (i, h, b, t) in shapes:
        params = random_cell(i, h, rng)
        x = rng.normal(0, 1, (b, t, i)).astype(np.float32)
        h0 = np.zeros((b, h), np.float32)
        report("numpy", (i, h, b, t), timed(lambda: gru_numpy_reset_after(x, h0, *params)), np.__version__)
