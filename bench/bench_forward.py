"""Forward pass of gru-convert's four GRU implementations against TensorFlow's own GRUCell
(tf.compat.v1.nn.dynamic_rnn, CPU), in the same run, alternating, best of each; prints the ratios.

usage: python3 bench/bench_forward.py [ROUNDS]
needs: tensorflow-cpu, tf-keras (fixtures/requirements.txt) and a release build of gru-bench:
       swift build -c release --product gru-bench
"""
import os, platform, subprocess, sys, time, warnings
warnings.filterwarnings("ignore")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tensorflow as tf

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bench = os.environ.get("GRU_BENCH", os.path.join(root, ".build", "release", "gru-bench"))
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
shapes = [(512, 512, 32, 100), (512, 512, 1, 100)]
tf.compat.v1.disable_eager_execution()
tf.get_logger().setLevel("ERROR")


def tensorflow_ms(i, h, b, t, repeats=5):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (b, t, i)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        xp = tf.compat.v1.placeholder(tf.float32, [b, t, i])
        _, state = tf.compat.v1.nn.dynamic_rnn(tf.compat.v1.nn.rnn_cell.GRUCell(h), xp, dtype=tf.float32)
        with tf.compat.v1.Session(graph=graph) as s:
            s.run(tf.compat.v1.global_variables_initializer())
            s.run(state, {xp: x})
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                s.run(state, {xp: x})
                best = min(best, time.perf_counter() - t0)
    return best * 1e3


def ours_ms(i, h, b, t):
    out = subprocess.run([bench, str(i), str(h), str(b), str(t), "5"], check=True, capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        name, value = line.split(" ", 1)
        result[name.rstrip(":")] = value
    return result


print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''}".rstrip(", "))
try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    print(f"cpu: {model}")
except (OSError, StopIteration):
    pass
print(f"tensorflow {tf.__version__}; best of 5 runs per round, best of {rounds} rounds; ratio = TensorFlow time / ours")
for (i, h, b, t) in shapes:
    best = {}
    for _ in range(rounds):
        best["tensorflow"] = min(best.get("tensorflow", float("inf")), tensorflow_ms(i, h, b, t))
        ours = ours_ms(i, h, b, t)
        kernels = ours.pop("kernels")
        identical = ours.pop("strict-bitwise-identical")
        for name, value in ours.items():
            best[name] = min(best.get(name, float("inf")), float(value))
    print(f"\nI = {i}, H = {h}, B = {b}, T = {t}   (kernels: {kernels}, strict forms bitwise identical: {identical})")
    print(f"{'implementation':28s} {'ms':>8s} {'speed vs TF':>12s}")
    for name in ["tensorflow", "strict-fused", "strict-explicit", "fast-fused", "fast-explicit", "openblas-input-projection"]:
        ratio = best["tensorflow"] / best[name]
        print(f"{name:28s} {best[name]:8.1f} {ratio:11.2f}x")
