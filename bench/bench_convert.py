"""Splitting a 100 MB fused checkpoint (I = H = 2048): gru-convert against `cp` of the same file and the
obvious h5py + NumPy script (shared/bench/h5py_split.py, copied here as h5py_split.py), in one run,
alternating; prints median wall time and peak resident memory of each, and the ratios.

usage: python3 bench/bench_convert.py [RUNS]   (needs h5py and numpy, and a release build)"""
import os, resource, shutil, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.environ.get("GRU_CONVERT", os.path.join(root, ".build", "release", "gru-convert"))
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
work = tempfile.mkdtemp(prefix="gru-bench-convert-")
source = os.path.join(work, "gru_2048.h5")
subprocess.run([sys.executable, os.path.join(root, "bench", "make_checkpoint.py"), source], check=True)
out = os.path.join(work, "out.h5")

def measure(command):
    """Wall time and peak RSS (MiB) of one run, the RSS read in a fresh child so it is this command's alone."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", probe] + command, check=True, capture_output=True, text=True)
    seconds, kib = result.stdout.split()
    return float(seconds), int(kib) / 1024

commands = {
    "cp": ["cp", source, out],
    "h5py + NumPy split": [sys.executable, os.path.join(root, "bench", "h5py_split.py"), source, out, "rnn/gru_cell", "2048"],
    "gru-convert convert": [binary, "convert", source, out, "--force"],
}
samples = {name: [] for name in commands}
for _ in range(runs):
    for name, command in commands.items():
        if os.path.exists(out):
            os.remove(out)
        samples[name].append(measure(command))
print(f"input: {os.path.getsize(source) / 1e6:.0f} MB fused checkpoint (I = H = 2048), {runs} runs each, median")
base = statistics.median(s[0] for s in samples["cp"])
print(f"{'command':24s} {'wall ms':>8s} {'vs cp':>7s} {'peak MiB':>9s}")
for name, values in samples.items():
    wall = statistics.median(s[0] for s in values)
    peak = max(s[1] for s in values)
    print(f"{name:24s} {wall * 1e3:8.1f} {wall / base:6.2f}x {peak:9.1f}")
shutil.rmtree(work)
