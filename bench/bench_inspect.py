"""inspect against h5ls -r on a 100 MB checkpoint, in the same run; prints the ratio of medians.
usage: python3 bench/bench_inspect.py [RUNS]   (needs h5py and numpy, h5ls from hdf5-tools, a release build)"""
import os, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
binary = os.environ.get("GRU_CONVERT", os.path.join(root, ".build", "release", "gru-convert"))
work = tempfile.mkdtemp(prefix="gru-bench-")
path = os.path.join(work, "gru_2048.h5")
subprocess.run([sys.executable, os.path.join(root, "bench", "make_checkpoint.py"), path], check=True)

commands = {"h5ls -r": ["h5ls", "-r", path], "gru-convert inspect": [binary, "inspect", path]}
times = {name: [] for name in commands}
for _ in range(runs):  # interleaved, so both see the same machine
    for name, command in commands.items():
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - t0)
size = os.path.getsize(path) / 1e6
print(f"checkpoint: {size:.0f} MB (I = H = 2048), {runs} runs each, median wall time")
base = statistics.median(times["h5ls -r"])
for name, samples in times.items():
    m = statistics.median(samples)
    print(f"{name:22s} {m * 1e3:7.1f} ms   {m / base:5.2f}x h5ls")
os.remove(path)
os.rmdir(work)
