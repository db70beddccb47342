"""gru-convert on TensorFlow checkpoints against what a user would otherwise run, in the same run, interleaved
(the order rotates from round to round), medians, ratios, peak resident memory:

  inspect  `gru-convert inspect` of a 5,000-variable checkpoint (make_big_checkpoint.py `many`) against
           TensorFlow's own tool as users run it (`python -m tensorflow.python.tools.inspect_checkpoint
           --file_name=PREFIX`, TensorFlow's import included) and against ckpt_index_py.py, a Python reader of
           the index with no TensorFlow (without and with block checksums).
  convert  `gru-convert convert` of the 983 MB checkpoint (make_big_checkpoint.py `big`, one GRUCell, I = H =
           6400) to HDF5, the default split and `--to fused`, against `cp` of its data file (and, to show what
           durability costs, `cp` followed by `sync` of the copy: an fsync, which gru-convert does) and against
           tf_ckpt_to_h5.py (`tf.train.load_checkpoint` + h5py, every tensor).

usage: python3 bench/bench_checkpoint.py [inspect|convert ...] [--rounds N] [--dir DIR] [--also BINARY]
       GRU_CONVERT (default .build-bench/release/gru-convert), TF_PYTHON (default ~/venvs/tf/bin/python; it
       also runs ckpt_index_py.py, the probe and tf_ckpt_to_h5.py). The checkpoints are made in DIR (default
       /tmp/gru-bench-ckpt) if missing; converted outputs go to DIR/out and are deleted after every run.
Prints a table and writes the raw samples, with the load average around every round, to
bench/out/checkpoint-YYYYMMDD-HHMMSS.json."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bench = os.path.join(root, "bench")
parser = argparse.ArgumentParser()
parser.add_argument("what", nargs="*", default=["inspect", "convert"])
parser.add_argument("--rounds", type=int, default=0, help="default: 15 for inspect, 5 for convert")
parser.add_argument("--dir", default="/tmp/gru-bench-ckpt")
parser.add_argument("--also", metavar="BINARY", help="a second gru-convert build (e.g. --static-swift-stdlib) timed "
                    "beside the first: inspect and the default convert")
args = parser.parse_args()
binary = os.environ.get("GRU_CONVERT", os.path.join(root, ".build-bench", "release", "gru-convert"))
tf_python = os.environ.get("TF_PYTHON", os.path.expanduser("~/venvs/tf/bin/python"))
env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")   # the same for every side; TF's tool prints less

many = os.path.join(args.dir, "many", "model.ckpt")
big = os.path.join(args.dir, "big", "model.ckpt")
needed = [n for n, p in (("many", many), ("big", big))
          if ("inspect" if n == "many" else "convert") in args.what and not os.path.exists(p + ".index")]
if needed:
    subprocess.run([tf_python, os.path.join(bench, "make_big_checkpoint.py"), args.dir] + needed, check=True)

PROBE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
         "sys.stderr.buffer.write(r.stderr[-2000:]) if r.returncode else None; "
         "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")


def measure(command):
    """Wall seconds and peak RSS (MiB) of one run. A fresh child runs the command, so RUSAGE_CHILDREN is its
    (or its largest descendant's: gru-convert's isolated worker) alone."""
    out = subprocess.run([tf_python, "-c", PROBE] + command, check=True, capture_output=True, text=True, env=env)
    seconds, kib, rc = out.stdout.split()
    if rc != "0":
        sys.exit(f"{command} failed ({rc}): {out.stderr}")
    return float(seconds), int(kib) / 1024


def load():
    return round(os.getloadavg()[0], 2)


def run(title, commands, rounds, base, cleanup=lambda: None):
    names = list(commands)
    samples = {n: [] for n in names}
    loads = []
    for r in range(rounds):
        before = load()
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            cleanup()
            samples[name].append(measure(commands[name]))
        cleanup()
        loads.append((before, load()))
        print(f"  round {r + 1}/{rounds}: load {loads[-1][0]} -> {loads[-1][1]}", file=sys.stderr)
    flat = [x for pair in loads for x in pair]
    print(f"\n{title}: {rounds} rounds, interleaved, 1-minute load average {min(flat)}-{max(flat)}")
    print(f"{'command':44s} {'median ms':>10s} {'min ms':>9s} {'vs ' + base:>14s} {'peak MiB':>9s}")
    base_median = statistics.median(s[0] for s in samples[base])
    result = {}
    for name in names:
        walls = [s[0] for s in samples[name]]
        median, peak = statistics.median(walls), max(s[1] for s in samples[name])
        print(f"{name:44s} {median * 1e3:10.1f} {min(walls) * 1e3:9.1f} {median / base_median:13.3f}x {peak:9.1f}")
        result[name] = {"command": commands[name], "wall_s": walls, "peak_mib": [s[1] for s in samples[name]],
                        "median_s": median, "ratio_to_" + base: median / base_median}
    return {"rounds": rounds, "loads": loads, "results": result}


report = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "nproc": os.cpu_count(), "binary": binary, "also": args.also}
if "inspect" in args.what:
    py = os.path.join(bench, "ckpt_index_py.py")
    commands = {
        "TF inspect_checkpoint (python -m, with import)":
            [tf_python, "-m", "tensorflow.python.tools.inspect_checkpoint", "--file_name=" + many],
        "Python index reader (no crc)": [tf_python, py, many],
        "Python index reader (crc, pure Python)": [tf_python, py, many, "--crc"],
        "gru-convert inspect": [binary, "inspect", many],
    }
    if args.also:
        commands["gru-convert inspect (--also build)"] = [args.also, "inspect", many]
    # sanity: every side lists the same 5,000 tensors
    counts = {}
    for name, cmd in commands.items():
        text = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        counts[name] = len(text.splitlines())
    print(f"inspect {many}: output lines {counts}")
    inspect = run("inspect, 5,000-variable checkpoint", commands, args.rounds or 15,
                  "TF inspect_checkpoint (python -m, with import)")
    base = inspect["results"]["TF inspect_checkpoint (python -m, with import)"]["median_s"]
    ours = inspect["results"]["gru-convert inspect"]["median_s"]
    print(f"gru-convert inspect is {base / ours:.1f}x faster than TensorFlow's tool (target >= 50x)")
    if args.also:
        also = inspect["results"]["gru-convert inspect (--also build)"]["median_s"]
        print(f"gru-convert inspect (--also build) is {base / also:.1f}x faster than TensorFlow's tool")
    py_ = inspect["results"]["Python index reader (no crc)"]["median_s"]
    print(f"Python index reader (no crc) median / gru-convert inspect median: {py_ / ours:.2f} (above 1: ours is faster)")
    report["inspect"] = inspect

if "convert" in args.what:
    out_dir = os.path.join(args.dir, "out")
    os.makedirs(out_dir, exist_ok=True)
    data = big + ".data-00000-of-00001"
    copy, h5 = os.path.join(out_dir, "copy.data"), os.path.join(out_dir, "out.h5")

    def cleanup():
        for p in (copy, h5):
            if os.path.exists(p):
                os.remove(p)

    subprocess.run(["cat", data], check=True, stdout=subprocess.DEVNULL)   # into the page cache, for everyone
    commands = {
        "cp (data file)": ["cp", data, copy],
        "cp + sync (fsync of the copy)": ["sh", "-c", f'cp "$0" "$1" && sync "$1"', data, copy],
        "gru-convert convert (split)": [binary, "convert", big, h5],
        "gru-convert convert --to fused": [binary, "convert", big, h5, "--to", "fused"],
        "tf.train.load_checkpoint + h5py": [tf_python, os.path.join(bench, "tf_ckpt_to_h5.py"), big, h5],
    }
    if args.also:
        commands["gru-convert convert (split, --also build)"] = [args.also, "convert", big, h5]
    print(f"convert {big}: data file {os.path.getsize(data) / 1e6:.0f} MB; df {shutil.disk_usage(args.dir).free / 1e9:.0f} GB free")
    convert = run(f"convert to HDF5, {os.path.getsize(data) / 1e6:.0f} MB checkpoint", commands,
                  args.rounds or 5, "cp (data file)", cleanup)
    cp = convert["results"]["cp (data file)"]["median_s"]
    for name in [n for n in convert["results"] if n.startswith("gru-convert")]:
        r = convert["results"][name]
        print(f"{name}: {r['median_s'] / cp:.2f}x cp (target <= 2x), peak {max(r['peak_mib']):.1f} MiB (target < 100)")
    report["convert"] = convert

os.makedirs(os.path.join(bench, "out"), exist_ok=True)
path = os.path.join(bench, "out", time.strftime("checkpoint-%Y%m%d-%H%M%S.json"))
with open(path, "w") as f:
    json.dump(report, f, indent=1)
print(f"raw: {path}")
