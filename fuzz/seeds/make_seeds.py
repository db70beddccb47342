"""Builds fuzz/seeds/: fixture cells and their reference runs in one file each, so that the fuzzer, which
sees one file at a time, reaches verification against reference runs (the harness verifies a file against
its own reference runs). Each seed is a copy of a fixture's weights file with the datasets of a reference
file (`<scope>/inputs`, `initial_state`, `outputs`) added; the pairs whose outputs were made by a wrong cell
(fixtures/mistakes, fixtures/keras/mistakes) are there too, so the diagnosis of mistakes runs as well.
Files over libFuzzer's -max_len (64 KiB, fuzz/run.sh) are left out.

usage: python3 fuzz/seeds/make_seeds.py     (needs h5py: fixtures/requirements-torch.txt or requirements.txt)
"""
import glob, os, shutil
import h5py

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(os.path.dirname(os.path.dirname(here)), "fixtures")
max_len = 65536

pairs = []
for directory in (fixtures, os.path.join(fixtures, "keras")):
    for reference in sorted(glob.glob(os.path.join(directory, "*.reference.h5"))):
        weights = reference[: -len(".reference.h5")] + ".h5"
        if os.path.exists(weights):
            pairs.append((weights, reference, os.path.basename(weights)[:-3]))
pairs += [
    (os.path.join(fixtures, "keras", "tfk_reset_after.h5"), os.path.join(fixtures, "keras", "tfk_reset_after.torch-reference.h5"),
     "tfk_reset_after-torch"),
    (os.path.join(fixtures, "gru_single.h5"), os.path.join(fixtures, "mistakes", "dropped.reference.h5"), "gru_single-dropped"),
    (os.path.join(fixtures, "gru_single.h5"), os.path.join(fixtures, "mistakes", "reset_after.reference.h5"),
     "gru_single-reset_after"),
    (os.path.join(fixtures, "keras", "tf1_keras_layers.h5"), os.path.join(fixtures, "keras", "mistakes", "hard_sigmoid.reference.h5"),
     "tf1_keras_layers-hard_sigmoid"),
]

for old in glob.glob(os.path.join(here, "*.h5")):
    os.remove(old)
for weights, reference, name in pairs:
    target = os.path.join(here, f"{name}-with-reference.h5")
    shutil.copyfile(weights, target)
    with h5py.File(reference, "r") as source, h5py.File(target, "a") as out:
        names = []
        source.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in names:
            if n not in out:
                source.copy(source[n], out, name=n)
    size = os.path.getsize(target)
    if size > max_len:
        os.remove(target)
        print(f"left out {name} ({size} bytes)")
    else:
        print(f"wrote {os.path.relpath(target)} ({size} bytes)")
