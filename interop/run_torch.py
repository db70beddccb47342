"""Worker: PyTorch. Run with the torch venv: python run_torch.py JOBS.json. Never imports TensorFlow.

Builds nn.GRU(I, H, num_layers, bidirectional, batch_first=True) from the job's layers, loads the converted
safetensors file the framework's way (load_state_dict(safetensors.torch.load_file(OUT), strict=True)), then runs
each loaded cell alone (a one-layer one-direction nn.GRU given that cell's four tensors) on the source reference.
Modes: check | negative_swap_zr (r and z row blocks of every weight_ih swapped in a temp copy) |
trap_missing_key (one key deleted in a temp copy: strict load must refuse)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file as np_load, save_file as np_save  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import common  # noqa: E402
from common import maxdiff, model_io, read_group, swap_blocks, temp_copy  # noqa: E402

torch.set_num_threads(1)
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
DT = {"float32": torch.float32, "float64": torch.float64}


def versions():
    return {"torch": torch.__version__, "safetensors": safetensors.__version__}


def build(job):
    layers = job["layers"]
    units = {L["units"] for L in layers}
    bidi = {L["bidirectional"] for L in layers}
    assert len(units) == 1 and len(bidi) == 1, "nn.GRU needs one hidden size and one direction count"
    return torch.nn.GRU(layers[0]["input_size"], units.pop(), num_layers=len(layers), bidirectional=bidi.pop(),
                        batch_first=True, dtype=DT[layers[0]["dtype"]]).eval()


def run_cell(params, x, h0):
    w_ih, w_hh = params[0], params[1]
    gru = torch.nn.GRU(w_ih.shape[1], w_hh.shape[1], batch_first=True, dtype=w_ih.dtype).eval()
    gru.load_state_dict(dict(zip((f"{p}_l0" for p in PARAMS), params)), strict=True)
    with torch.no_grad():
        y, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    return y.numpy()


def prefix_of(job):
    """The module prefix of the cells (`rnn.` of `rnn.l0`), '' for a bare nn.GRU state dict."""
    pre = {c["scope"].rsplit("l", 1)[0] for L in job["layers"] for c in L["cells"]}
    assert len(pre) == 1, pre
    return pre.pop()


def container(gru, prefix, state):
    """A module holding `gru` at `prefix` and, for the other tensors of the file (a head that torch -> torch keeps),
    an nn.Linear per `<path>.weight [out, in]` (+ `<path>.bias`), so that the strict load covers every key."""
    root = torch.nn.Module()
    setattr(root, prefix.rstrip("."), gru)
    others = sorted(k for k in state if not k.startswith(prefix))
    for k in others:
        path, leaf = k.rsplit(".", 1)
        if leaf == "weight" and state[k].ndim == 2 and not hasattr(root, path):
            assert "." not in path, k
            setattr(root, path, torch.nn.Linear(state[k].shape[1], state[k].shape[0], bias=f"{path}.bias" in state,
                                                dtype=state[k].dtype))
    return root, others


def load_state(path):
    """The state dict of OUT the framework's way: torch.load(weights_only=True) for a torch.save file, safetensors otherwise."""
    if path.endswith((".pt", ".pth")):
        return torch.load(path, weights_only=True)
    return load_file(path)


def check(job, path):
    gru = build(job)
    state = load_state(path)
    prefix = prefix_of(job)
    notes = []
    if prefix and any("." in k[len(prefix):] or not k.startswith(("model.", prefix)) for k in state if not k.startswith(prefix)) \
            and any(k.startswith("optimizer.") for k in state):
        # A training checkpoint (model, optimizer, ...), kept whole by PyTorch into PyTorch: the GRU's own keys
        # load strictly into nn.GRU; the rest is the checkpoint's, which no module holds.
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        gru.load_state_dict(own, strict=True)
        notes.append(f"OUT is a training checkpoint: its {len(own)} keys under {prefix!r} loaded strictly into nn.GRU "
                     f"({len(state) - len(own)} other entries: the rest of the model and the optimizer state)")
    elif prefix:
        root, others = container(gru, prefix, state)
        root.load_state_dict(state, strict=True)
        notes.append(f"OUT is a module state dict (GRU under {prefix!r}, also {', '.join(others) or 'nothing else'}), "
                     "not an nn.GRU one: loaded strictly into a module with nn.GRU at that prefix"
                     + (" and nn.Linear for the rest" if others else ""))
    else:
        gru.load_state_dict(state, strict=True)
    res = {"cells": [], "notes": notes}
    np_dtype = np.dtype(job["layers"][0]["dtype"])
    for k, L in enumerate(job["layers"]):
        for d, cell in enumerate(L["cells"]):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            params = [getattr(gru, p + sfx).detach() for p in PARAMS]
            r = read_group(job["reference"], cell["group"])
            y = run_cell(params, r["inputs"].astype(np_dtype), r["initial_state"].astype(np_dtype))
            res["cells"].append({"scope": cell["scope"], "group": cell["group"], "diff": maxdiff(y, r["outputs"])})
    io = model_io(job)
    if io is not None:
        x, y = io
        with torch.no_grad():
            out, _ = gru(torch.from_numpy(x.astype(np_dtype)))
        res["model"] = maxdiff(out.numpy(), y)
    return res


def handle(job):
    mode = job.get("mode", "check")
    if mode == "check":
        return check(job, job["out"])
    if mode == "negative_swap_zr":
        path = temp_copy(job["out"])
        t = np_load(path)
        swapped = []
        for k in sorted(t):
            if k.startswith("weight_ih"):
                t[k] = np.ascontiguousarray(swap_blocks(t[k], 0, 0, 1, t[k].shape[0] // 3))
                swapped.append(k)
        np_save(t, path)
        res = check(job, path)
        res["swapped"] = swapped
        return res
    if mode == "trap_missing_key":
        path = temp_copy(job["out"])
        t = np_load(path)
        victim = sorted(t)[-1]
        del t[victim]
        np_save(t, path)
        gru = build(job)
        try:
            gru.load_state_dict(load_file(path), strict=True)
        except Exception as e:  # noqa: BLE001
            return {"refused": True, "deleted": victim,
                    "message": f"{type(e).__name__}: {' '.join(str(e).split())}"[:300]}
        return {"refused": False, "deleted": victim, "message": "strict load accepted a file missing a key"}
    raise ValueError(mode)


if __name__ == "__main__":
    common.main(handle, versions)
