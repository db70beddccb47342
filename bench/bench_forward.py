"""Forward pass of gru-convert's GRU implementations beside what a user would otherwise run, in the same run,
interleaved round by round, with the same number of threads on every side; prints medians and ratios.

- reset-before (TensorFlow 1 GRUCell layout): TensorFlow's own GRUCell (tf.compat.v1.nn.dynamic_rnn) beside
  gru-bench's StrictFusedCell, StrictExplicitCell, FastFusedCell, FastExplicitCell.
- reset-after (Keras reset_after=True layout, which is PyTorch's nn.GRU math): PyTorch's nn.GRU and a NumPy
  cell of the same math beside the same four cells.

usage: python3 bench/bench_forward.py [ROUNDS] [--threads N] [--repeats R] [--shapes I,H,B,T ...]
  ROUNDS   rounds (default 5); each runs every implementation once: one untimed run, then R timed runs
           (default 5). The figure is the median of all ROUNDS x R runs; ratio = peer median / ours.
  N        threads on every side (default: the number of cores): GRU_CONVERT_THREADS and OPENBLAS_NUM_THREADS
           for gru-bench, torch.set_num_threads, TensorFlow's intra- and inter-op pools, OPENBLAS_NUM_THREADS
           for NumPy. Below the number of cores, every process is also pinned to cores 0..N-1 (sched_setaffinity):
           a thread-count setting alone does not hold TensorFlow to N cores (its calling thread works beside its
           intra-op pool, so intra = inter = 1 still ran on two cores in some rounds).
needs: any python3 to run this script (it imports no framework); TF_PYTHON, a python with tensorflow-cpu and
       tf-keras (fixtures/requirements.txt; default ~/venvs/tf/bin/python); TORCH_PYTHON, a python with torch
       and numpy (fixtures/requirements-torch.txt; default ~/venvs/torch/bin/python); GRU_BENCH, a release
       build of gru-bench (default bench/swift/.build/release/gru-bench):
         swift build -c release --package-path bench/swift
Raw figures are also written to bench/out/forward-<time>.json (not committed).
"""
import json, os, platform, statistics, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
home = os.path.expanduser("~")
bench = os.environ.get("GRU_BENCH", os.path.join(here, "swift", ".build", "release", "gru-bench"))
tf_python = os.environ.get("TF_PYTHON", os.path.join(home, "venvs", "tf", "bin", "python"))
torch_python = os.environ.get("TORCH_PYTHON", os.path.join(home, "venvs", "torch", "bin", "python"))
peers = os.path.join(here, "forward_peers.py")

rounds, threads, repeats = 5, os.cpu_count(), 5
shapes = [(512, 512, 32, 100), (512, 512, 1, 100), (64, 64, 16, 100)]
args = sys.argv[1:]
while args:
    a = args.pop(0)
    if a == "--threads":
        threads = int(args.pop(0))
    elif a == "--repeats":
        repeats = int(args.pop(0))
    elif a == "--shapes":
        shapes = []
        while args and not args[0].startswith("--"):
            shapes.append(tuple(int(v) for v in args.pop(0).split(",")))
    elif a.isdigit():
        rounds = int(a)
    else:
        sys.exit(__doc__)
for path, what in ((bench, "GRU_BENCH (swift build -c release --package-path bench/swift)"),
                   (tf_python, "TF_PYTHON"), (torch_python, "TORCH_PYTHON")):
    if not os.path.exists(path):
        sys.exit(f"bench_forward.py: {path} does not exist; set {what}")

env = dict(os.environ, GRU_CONVERT_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
samples = {}   # (family, shape, impl) -> [ms]
info = {}      # (family, shape) -> {key: value}; ("peer", impl) -> last JSON record


cores = set(range(threads)) if threads < os.cpu_count() else None


def pin():
    if cores:
        os.sched_setaffinity(0, cores)


def run_peer(mode, python):
    out = subprocess.run([python, peers, mode, "--threads", str(threads), "--repeats", str(repeats)]
                         + [",".join(map(str, s)) for s in shapes], check=True, capture_output=True, text=True, env=env,
                         preexec_fn=pin)
    family = "reset-before" if mode == "tensorflow" else "reset-after"
    for line in out.stdout.splitlines():
        record = json.loads(line)
        samples.setdefault((family, tuple(record["shape"]), mode), []).extend(record["ms"])
        info[("peer", mode)] = record


def run_ours(family):
    for shape in shapes:
        out = subprocess.run([bench, family, *map(str, shape), str(repeats)], check=True, capture_output=True, text=True,
                             env=env, preexec_fn=pin).stdout
        for line in out.splitlines():
            if ": " in line:
                key, value = line.split(": ", 1)
                info.setdefault((family, shape), {})[key] = value
            else:
                name, *values = line.split()
                samples.setdefault((family, shape, name), []).extend(float(v) for v in values)


steps = [lambda: run_peer("tensorflow", tf_python), lambda: run_ours("reset-before"), lambda: run_peer("torch", torch_python),
         lambda: run_peer("numpy", torch_python), lambda: run_ours("reset-after")]
started, load_before = time.time(), os.getloadavg()
for n in range(rounds):
    # Rotate the order from round to round, so that no implementation always runs right after another.
    for step in steps[n % len(steps):] + steps[:n % len(steps)]:
        step()
    print(f"round {n + 1}/{rounds} done ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
tf_version = info[("peer", "tensorflow")]["version"]
torch_record = info[("peer", "torch")]
print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu}")
print(f"tensorflow {tf_version}, torch {torch_record['version']}, numpy {info[('peer', 'numpy')]['version']}; "
      f"{threads} thread(s) on every side (torch reports {torch_record['torch_threads']})"
      + (f"; every process pinned to cores {sorted(cores)}" if cores else ""))
print(f"{rounds} rounds x {repeats} timed runs per implementation, interleaved; median of all runs; "
      f"ratio = peer median / ours (above 1: ours is faster)")
load_after = os.getloadavg()
print(f"load average (1, 5, 15 min) before: {', '.join(f'{v:.1f}' for v in load_before)}; after: "
      f"{', '.join(f'{v:.1f}' for v in load_after)}  (above 0 means other work shared the cores; compare ratios, not times)")
print(f"NumPy cell vs nn.GRU (I=5, H=6, B=3, T=7): max |diff| {torch_record['numpy_vs_torch_max_abs']:.1e}")

ours = ["strict-fused", "strict-explicit", "fast-fused", "fast-explicit", "openblas-input-projection"]
summary = {}
for family, peer_names in (("reset-before", ["tensorflow"]), ("reset-after", ["torch", "numpy"])):
    for shape in shapes:
        i, h, b, t = shape
        meta = info[(family, shape)]
        layout = "TF1 GRUCell layout" if family == "reset-before" else "Keras reset_after=True layout, nn.GRU math"
        print(f"\n{family} ({layout}): I = {i}, H = {h}, B = {b}, T = {t}   (kernels: {meta['kernels']}, "
              f"strict forms bitwise identical: {meta['strict-bitwise-identical']}, "
              f"fast vs strict max |diff| {float(meta['fast-vs-strict-max-abs']):.1e})")
        header = f"{'implementation':28s} {'median ms':>10s} {'min ms':>8s}" + "".join(f" {'vs ' + p:>10s}" for p in peer_names)
        print(header)
        medians = {name: statistics.median(samples[(family, shape, name)]) for name in peer_names + ours}
        for name in peer_names + ours:
            runs = samples[(family, shape, name)]
            ratios = "".join(f" {medians[p] / medians[name]:9.2f}x" for p in peer_names)
            print(f"{name:28s} {medians[name]:10.2f} {min(runs):8.2f}{ratios}")
        summary[f"{family} {i},{h},{b},{t}"] = medians

os.makedirs(os.path.join(here, "out"), exist_ok=True)
path = os.path.join(here, "out", time.strftime("forward-%Y%m%d-%H%M%S.json"))
with open(path, "w") as f:
    json.dump({"threads": threads, "rounds": rounds, "repeats": repeats, "load_before": load_before,
               "load_after": load_after, "medians": summary,
               "samples": {" ".join(map(str, k)): v for k, v in samples.items()}}, f, indent=1)
print(f"\nraw figures: {os.path.relpath(path)}")
