#!/usr/bin/env python3
"""Interop check of gru-convert: converts every source fixture to every target framework, loads each output
THE FRAMEWORK'S OWN WAY in that framework, runs every loaded cell (and the whole model where the source
reference has one) on the SOURCE's reference inputs, and compares. Also the loader traps and negative controls.

Driver only: standard library, no framework import; any python3 runs it. Each load-and-run goes to a worker in
its own process and venv (TensorFlow and torch never share a process; tf-keras and Keras 3 neither):

    run_keras2.py  tf venv, TF_USE_LEGACY_KERAS=1     run_keras3.py  tf venv, TF_USE_LEGACY_KERAS unset
    run_torch.py   torch venv                         run_onnx.py    torch venv (imports onnx/onnxruntime only)

Usage (from the repository root, after `swift build -c release`):
    python3 interop/check.py [--tool .build/release/gru-convert] [--results interop/RESULTS.md] [--keep DIR]
Exit 0 when every within-family pair loads and matches (float32 1e-5, float64 1e-12), every cross-family pair is
refused with a measured difference, every trap and negative control behaves; 1 otherwise. Pending pairs (inputs
or outputs gru-convert does not handle yet) do not fail the run; they are listed."""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TF_PY = os.environ.get("TF_PYTHON", "/root/venvs/tf/bin/python")
TORCH_PY = os.environ.get("TORCH_PYTHON", "/root/venvs/torch/bin/python")
TOL = {"float32": 1e-5, "float64": 1e-12}
NEGATIVE_MIN = 1e-2            # a negative control must move the outputs by at least this much

# ------------------------------------------------------------------------------------------------- sources
# Each source: path (from the repository root), its reference file, and its layers in model order, each a list
# of (source scope, reference group) forward first. Reference group names come from the generators:
# fixtures/generate.py and generate_checkpoints.py (TF1 cell scopes), fixtures/frameworks/keras_common.py (Keras
# layer names; Bidirectional `<name>/<sub-layer name>`), generate_torch.py (`<prefix>l<k>[_reverse]`),
# export_onnx.py / generate_onnx_tf1.py (`l<k>[_reverse]`).
# model: how the reference's model group compares to a stack of GRU layers returning sequences from a zero state
# (time_major: [T, B, ...]; squeeze_dir_axis: ONNX Y [T, D, B, H]); or a string: why it is not compared.
FW = "fixtures/frameworks/"
SOURCES = [
    dict(name="gru_single.h5", kind="TF1", path="fixtures/gru_single.h5", ref="fixtures/gru_single.reference.h5",
         layers=[[("rnn/gru_cell", "rnn/gru_cell")]], model="the TF1 reference has cells only"),
    dict(name="gru_stacked.h5", kind="TF1", path="fixtures/gru_stacked.h5", ref="fixtures/gru_stacked.reference.h5",
         layers=[[("rnn/multi_rnn_cell/cell_0/gru_cell",) * 2], [("rnn/multi_rnn_cell/cell_1/gru_cell",) * 2]],
         model="the TF1 reference has cells only"),
    dict(name="gru_bidirectional.h5", kind="TF1", path="fixtures/gru_bidirectional.h5",
         ref="fixtures/gru_bidirectional.reference.h5",
         layers=[[("bidirectional_rnn/fw/gru_cell",) * 2, ("bidirectional_rnn/bw/gru_cell",) * 2]],
         model="the TF1 reference has cells only"),
    dict(name="checkpoints/tf1_single", kind="TF1 ckpt", path="fixtures/checkpoints/tf1_single",
         ref="fixtures/checkpoints/tf1_single/reference.h5", layers=[[("rnn/gru_cell",) * 2]],
         model="the TF1 reference has cells only"),
    dict(name="checkpoints/tf1_bidirectional", kind="TF1 ckpt", path="fixtures/checkpoints/tf1_bidirectional",
         ref="fixtures/checkpoints/tf1_bidirectional/reference.h5",
         layers=[[("bidirectional_rnn/fw/gru_cell",) * 2, ("bidirectional_rnn/bw/gru_cell",) * 2]],
         model="the TF1 reference has cells only"),
    dict(name="checkpoints/tfk_object", kind="TF2 ckpt (tf-keras)", path="fixtures/checkpoints/tfk_object",
         ref="fixtures/checkpoints/tfk_object/reference.h5",
         layers=[[("encoder_gru/gru_cell",) * 2],
                 [("bidi/forward_gru/gru_cell",) * 2, ("bidi/backward_gru/gru_cell",) * 2]],
         model="reference has cells only (and the model has a Dense head)"),
    dict(name="k2_gru.h5", kind="Keras 2", path=FW + "k2_gru.h5", ref=FW + "k2_gru.h5.reference.h5",
         layers=[[("gru/gru/gru_cell", "gru")]], model={}),
    dict(name="k2_gru_rb.h5", kind="Keras 2", path=FW + "k2_gru_rb.h5", ref=FW + "k2_gru_rb.h5.reference.h5",
         layers=[[("gru/gru/gru_cell", "gru")]], model={}),
    dict(name="k2_full.h5", kind="Keras 2", path=FW + "k2_full.h5", ref=FW + "k2_full.h5.reference.h5",
         layers=[[("model_weights/encoder/encoder/gru_cell", "encoder")]],
         model="model_outputs are the Dense head's, which the GRU-only output does not hold"),
    dict(name="k3_gru.weights.h5", kind="Keras 3", path=FW + "k3_gru.weights.h5",
         ref=FW + "k3_gru.weights.h5.reference.h5", layers=[[("layers/gru/cell", "gru")]], model={}),
    dict(name="k3_gru_rb.weights.h5", kind="Keras 3", path=FW + "k3_gru_rb.weights.h5",
         ref=FW + "k3_gru_rb.weights.h5.reference.h5", layers=[[("layers/gru/cell", "gru")]], model={}),
    dict(name="k3_bidir.weights.h5", kind="Keras 3", path=FW + "k3_bidir.weights.h5",
         ref=FW + "k3_bidir.weights.h5.reference.h5",
         layers=[[("layers/bidirectional/forward_layer/cell", "bidirectional/forward_gru"),
                  ("layers/bidirectional/backward_layer/cell", "bidirectional/backward_gru")]], model={}),
    dict(name="k3_gru.keras", kind="Keras 3", path=FW + "k3_gru.keras", ref=FW + "k3_gru.keras.reference.h5",
         layers=[[("layers/gru/cell", "gru")]], model={}),
    dict(name="torch_gru.safetensors", kind="torch", path=FW + "torch_gru.safetensors",
         ref=FW + "torch_gru.safetensors.reference.h5", layers=[[("l0", "l0")]], model={"time_major": True}),
    dict(name="torch_gru2_bidir.safetensors", kind="torch", path=FW + "torch_gru2_bidir.safetensors",
         ref=FW + "torch_gru2_bidir.safetensors.reference.h5",
         layers=[[("l0", "l0"), ("l0_reverse", "l0_reverse")], [("l1", "l1"), ("l1_reverse", "l1_reverse")]],
         model={}),
    dict(name="torch_prefixed.safetensors", kind="torch", path=FW + "torch_prefixed.safetensors",
         ref=FW + "torch_prefixed.safetensors.reference.h5", layers=[[("rnn.l0", "rnn.l0")]],
         model="model_outputs are head(rnn(x)) (nn.Linear head), not held by a GRU-only output"),
    dict(name="torch_gru_f64.safetensors", kind="torch", path=FW + "torch_gru_f64.safetensors",
         ref=FW + "torch_gru_f64.safetensors.reference.h5", layers=[[("l0", "l0")]], model={"time_major": True}),
    # torch.save files (fixtures/torchsave), read without Python by gru-convert; their references hold cells only.
    dict(name="torchsave/gru.pt", kind="torch.save", path="fixtures/torchsave/gru.pt", ref="fixtures/torchsave/gru.pt.reference.h5",
         layers=[[("l0", "l0")]], model="the torchsave reference has cells only"),
    dict(name="torchsave/gru2_bidir.pt", kind="torch.save", path="fixtures/torchsave/gru2_bidir.pt",
         ref="fixtures/torchsave/gru2_bidir.pt.reference.h5",
         layers=[[("l0", "l0"), ("l0_reverse", "l0_reverse")], [("l1", "l1"), ("l1_reverse", "l1_reverse")]],
         model="the torchsave reference has cells only"),
    dict(name="torchsave/checkpoint.tar", kind="torch.save", path="fixtures/torchsave/checkpoint.tar",
         ref="fixtures/torchsave/checkpoint.tar.reference.h5", layers=[[("model.rnn.l0", "model.rnn.l0")]],
         model="the torchsave reference has cells only"),
    dict(name="torchsave/legacy.pt", kind="torch.save (legacy)", path="fixtures/torchsave/legacy.pt",
         ref="fixtures/torchsave/legacy.pt.reference.h5", layers=[[("l0", "l0")]], model="the torchsave reference has cells only"),
    dict(name="torchsave/gru_f64.pt", kind="torch.save", path="fixtures/torchsave/gru_f64.pt",
         ref="fixtures/torchsave/gru_f64.pt.reference.h5", layers=[[("l0", "l0")]], model="the torchsave reference has cells only"),
    # ONNX sources: gru-convert does not read ONNX yet (pending). Source scopes are not known until it does:
    # None pairs by the position of the cell in convert's output.
    dict(name="torch_gru.onnx", kind="ONNX", path=FW + "torch_gru.onnx", ref=FW + "torch_gru.onnx.reference.h5",
         layers=[[(None, "l0")]], model={"time_major": True}),
    dict(name="torch_gru2_bidir.onnx", kind="ONNX", path=FW + "torch_gru2_bidir.onnx",
         ref=FW + "torch_gru2_bidir.onnx.reference.h5",
         layers=[[(None, "l0"), (None, "l0_reverse")], [(None, "l1"), (None, "l1_reverse")]], model={}),
    dict(name="tf1_gru.onnx", kind="ONNX", path=FW + "tf1_gru.onnx", ref=FW + "tf1_gru.onnx.reference.h5",
         layers=[[(None, "l0")]], model={"time_major": True, "squeeze_dir_axis": True}),
]

# target -> (suffix, [(loader label, worker, python, env)])
K2 = ("tf-keras", "run_keras2.py", TF_PY)
K3 = ("Keras 3", "run_keras3.py", TF_PY)
TORCH = ("torch", "run_torch.py", TORCH_PY)
ORT = ("onnxruntime", "run_onnx.py", TORCH_PY)
TARGETS = {"keras": (".h5", [K2, K3]), "keras3": (".weights.h5", [K3, K2]), "torch": (".safetensors", [TORCH]),
           "torch-pt": (".pt", [TORCH]), "onnx": (".onnx", [ORT])}
# The tool's --to for each target: torch-pt is --to torch with a torch.save OUTPUT (.pt), loaded by torch.load(weights_only=True).
TO_FLAG = {"torch-pt": "torch"}

PENDING_INPUT = re.compile(r"does not read yet")
DIFFER = re.compile(r"differ by up to ([0-9.eE+-]+)")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return p.returncode, p.stdout, p.stderr


class Checker:
    def __init__(self, tool, workdir):
        self.tool, self.work = tool, workdir
        self.rows, self.extras, self.commands, self.versions = [], [], [], {}
        self.jobs = {}          # worker file -> [job]
        self.pending_jobs = {}  # job id -> (row, kind)

    # ------------------------------------------------------------------ the tool
    def gru(self, *args):
        cmd = [self.tool, *args]
        self.commands.append(" ".join(os.path.relpath(a, ROOT) if os.path.isabs(a) and a.startswith(ROOT) else a
                                      for a in cmd))
        return run(cmd, cwd=ROOT)

    def inspect(self, path):
        rc, out, err = self.gru("inspect", path, "--format", "json")
        if rc != 0:
            return None, err.strip()
        return json.loads(out), None

    def convert(self, src, out, target):
        """(rc, json or None, stderr, flags)."""
        flags = []
        rc, o, e = self.gru("convert", src, out, "--to", TO_FLAG.get(target, target), "--force", "--format", "json")
        if rc == 2 and "--drop-unsupported" in e:
            flags = ["--drop-unsupported"]
            rc, o, e = self.gru("convert", src, out, "--to", TO_FLAG.get(target, target), "--force", "--format", "json", *flags)
        doc = None
        try:
            doc = json.loads(o) if o.strip() else None
        except json.JSONDecodeError:
            pass
        return rc, doc, e.strip(), flags

    # ------------------------------------------------------------------ planning
    def plan(self):
        for s in SOURCES:
            src = os.path.join(ROOT, s["path"])
            info, err = self.inspect(src)
            for target, (suffix, loaders) in TARGETS.items():
                base = {"source": s["name"], "kind": s["kind"], "target": target}
                if info is None:
                    status = "pending" if err and PENDING_INPUT.search(err) else "FAIL"
                    for lab, *_ in loaders:
                        self.rows.append(dict(base, loader=lab, status=status, notes=[f"inspect SRC: {err}"]))
                    continue
                self.plan_pair(s, src, info, target, suffix, loaders, base)

    def plan_pair(self, s, src, info, target, suffix, loaders, base):
        cells = {c["scope"]: c for c in info["cells"]}
        fams = {c["family"] for c in info["cells"]}
        cross = target in ("torch", "torch-pt") and "reset-before" in fams
        out = os.path.join(self.work, re.sub(r"[^A-Za-z0-9_.]", "_", s["name"]) + "." + target + suffix)
        rc, doc, err, flags = self.convert(src, out, target)
        notes = [f"convert {' '.join(flags)}".strip()] if flags else []
        note_lines = [l for l in err.splitlines() if l.startswith("note:")]
        notes += note_lines
        if cross:
            m = DIFFER.search(err)
            if rc == 2 and m:
                x = float(m.group(1))
                for lab, *_ in loaders:
                    self.rows.append(dict(base, loader=lab, status="refused-as-expected", cells=x,
                                          notes=notes + [f"exit 2, differ by up to {m.group(1)}"]))
            else:
                for lab, *_ in loaders:
                    self.rows.append(dict(base, loader=lab, status="FAIL",
                                          notes=notes + [f"cross-family NOT refused as expected: exit {rc}: {err[:200]}"]))
            return
        if rc != 0:
            for lab, *_ in loaders:
                self.rows.append(dict(base, loader=lab, status="FAIL", notes=notes + [f"convert exit {rc}: {err[:300]}"]))
            return
        mapping = {c["scope"]: c["new_scope"] for c in doc["cells"]}
        order = [c["new_scope"] for c in doc["cells"]]
        out_info, out_err = self.inspect(out)
        out_cells = {c["scope"]: c for c in out_info["cells"]} if out_info else {}
        layers, k = [], 0
        for layer in s["layers"]:
            cl, fam_l, dtypes = [], set(), set()
            for src_scope, group in layer:
                if src_scope is None:
                    new = order[k] if k < len(order) else None
                    notes.append("paired by position")
                else:
                    new = mapping.get(src_scope)
                k += 1
                # The source cell: by its scope, or through the tool's own mapping (new scope -> source scope).
                inverse = {v: key for key, v in mapping.items()}
                c = cells.get(src_scope) if src_scope else cells.get(inverse.get(new))
                oc = out_cells.get(new)
                if oc is None and target not in ("onnx", "torch-pt"):
                    notes.append(f"inspect OUT has no cell {new!r} ({out_err or 'not found'})")
                if oc is not None and c is not None:
                    for key in ("family", "units", "input_size"):
                        if oc[key] != c[key]:
                            notes.append(f"{new}: {key} {oc[key]} in OUT vs {c[key]} in SRC")
                ref_cell = oc or c
                fam_l.add(ref_cell["family"])
                dtypes.add(ref_cell["dtype"])
                cl.append({"scope": new, "group": group, "units": ref_cell["units"],
                           "input_size": ref_cell["input_size"]})
            layers.append({"bidirectional": len(cl) == 2, "units": cl[0]["units"], "input_size": cl[0]["input_size"],
                           "dtype": dtypes.pop(), "reset_after": fam_l.pop() == "reset-after", "cells": cl})
        model = s["model"] if isinstance(s["model"], dict) else None
        if not isinstance(s["model"], dict):
            notes.append(f"model not compared: {s['model']}")
        job = {"out": out, "reference": os.path.join(ROOT, s["ref"]), "layers": layers, "model": model}
        for lab, worker, py in loaders:
            row = dict(base, loader=lab, status="?", notes=list(notes), dtype=layers[0]["dtype"])
            self.rows.append(row)
            self.add_job(worker, py, dict(job), row)

    def add_job(self, worker, py, job, row, kind="check"):
        job["id"] = f"{len(self.pending_jobs)}"
        self.pending_jobs[job["id"]] = (row, kind)
        self.jobs.setdefault((worker, py), []).append(job)

    def plan_extras(self):
        def out_of(name, target):
            for r in self.rows:
                if r["source"] == name and r["target"] == target and r["status"] == "?":
                    return r
            return None
        jobs = {}
        for (worker, py), js in self.jobs.items():
            for j in js:
                jobs[(j["id"])] = (worker, py, j)

        def job_for(name, target, loader):
            for jid, (row, kind) in self.pending_jobs.items():
                if row["source"] == name and row["target"] == target and row["loader"] == loader and kind == "check":
                    return jobs[jid]
            return None

        specs = [
            ("trap: Keras 2 loads a reset_after=True file into reset_after=False GRU", "k2_gru.h5", "keras", K2,
             "trap_reset_after", "refused"),
            ("trap: Keras 2 loads a reset_after=False file into reset_after=True GRU", "k2_gru_rb.h5", "keras", K2,
             "trap_reset_after", "refused"),
            ("trap: Keras 2 loads a reset-before TF1 file into reset_after=True GRU", "gru_single.h5", "keras", K2,
             "trap_reset_after", "refused"),
            ("trap: Keras 3 loads a reset_after=True .weights.h5 into reset_after=False GRU", "k3_gru.weights.h5",
             "keras3", K3, "trap_reset_after", "refused"),
            ("trap: Keras 3 loads a reset_after=False .weights.h5 into reset_after=True GRU", "k3_gru_rb.weights.h5",
             "keras3", K3, "trap_reset_after", "refused"),
            ("trap: torch strict load of the output with one key deleted", "torch_gru2_bidir.safetensors", "torch",
             TORCH, "trap_missing_key", "refused"),
            ("trap: torch strict load of a Keras-sourced output with one key deleted", "k3_bidir.weights.h5", "torch",
             TORCH, "trap_missing_key", "refused"),
            ("negative: z/r column blocks of the Keras 2 kernel swapped", "k2_gru.h5", "keras", K2,
             "negative_swap_zr", "large"),
            ("negative: z/r column blocks of the Keras 2 kernel swapped (reset-before)", "gru_bidirectional.h5",
             "keras", K2, "negative_swap_zr", "large"),
            ("negative: z/r column blocks of the Keras 3 kernel (vars/0) swapped", "k3_bidir.weights.h5", "keras3", K3,
             "negative_swap_zr", "large"),
            ("negative: r/z row blocks of torch weight_ih swapped", "torch_gru2_bidir.safetensors", "torch", TORCH,
             "negative_swap_zr", "large"),
            ("negative: z/r row blocks of ONNX W swapped", "torch_gru.safetensors", "onnx", ORT,
             "negative_swap_zr", "large"),
            ("negative: z/r row blocks of ONNX W swapped (reset-before)", "gru_single.h5", "onnx", ORT,
             "negative_swap_zr", "large"),
        ]
        for title, src, target, (lab, worker, py), mode, expect in specs:
            base = job_for(src, target, lab)
            row = {"title": title, "source": src, "target": target, "loader": lab, "expect": expect, "status": "?",
                   "notes": []}
            self.extras.append(row)
            if base is None:
                row["status"] = "FAIL"
                row["notes"].append("no converted output to use (the conversion failed)")
                continue
            job = dict(base[2], mode=mode)
            self.add_job(worker, py, job, row, kind=mode)

    def plan_selftests(self):
        """run_onnx.py has no gru-convert ONNX output to read yet: it is run here on the framework-made ONNX
        fixtures (torch.onnx.export, onnx.helper) as if they were outputs, against their own references, so that
        the pending path is known to work (the whole-model runs of these graphs: batch_first graph I/O for
        torch_gru2_bidir.onnx, time-major elsewhere)."""
        def L(units, inp, groups, ra):
            return {"bidirectional": len(groups) == 2, "units": units, "input_size": inp, "dtype": "float32",
                    "reset_after": ra, "cells": [{"scope": g, "group": g} for g in groups]}
        tests = [("torch_gru.onnx", [L(6, 5, ["l0"], True)], {"time_major": True}),
                 ("torch_gru2_bidir.onnx", [L(6, 5, ["l0", "l0_reverse"], True), L(6, 12, ["l1", "l1_reverse"], True)],
                  {"graph_batch_major": True}),
                 ("torch_gru_ts.onnx", [L(6, 5, ["l0"], True)], {"time_major": True}),
                 ("tf1_gru.onnx", [L(6, 5, ["l0"], False)], {"time_major": True, "squeeze_dir_axis": True})]
        for name, layers, model in tests:
            row = {"title": "self-test of run_onnx.py on a framework-made ONNX file", "source": name,
                   "target": "(itself)", "loader": ORT[0], "expect": "match", "status": "?", "notes": []}
            self.extras.append(row)
            job = {"out": os.path.join(ROOT, FW + name), "reference": os.path.join(ROOT, FW + name + ".reference.h5"),
                   "layers": layers, "model": model}
            self.add_job(ORT[1], ORT[2], job, row, kind="selftest")
        for mode, title in (("negative_swap_zr", "negative: z/r row blocks of ONNX W swapped (self-test file)"),):
            row = {"title": title, "source": "torch_gru2_bidir.onnx", "target": "(itself)", "loader": ORT[0],
                   "expect": "large", "status": "?", "notes": []}
            self.extras.append(row)
            job = dict(self.jobs[(ORT[1], ORT[2])][-3], mode=mode)
            self.add_job(ORT[1], ORT[2], job, row, kind=mode)

    # ------------------------------------------------------------------ workers
    def dispatch(self):
        for (worker, py), jobs in self.jobs.items():
            path = os.path.join(self.work, f"jobs_{worker}_{os.path.basename(os.path.dirname(os.path.dirname(py)))}.json")
            with open(path, "w") as f:
                json.dump(jobs, f, indent=1)
            env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
            env.pop("TF_USE_LEGACY_KERAS", None)       # each worker sets its own
            print(f"[check] {len(jobs)} job(s) -> {os.path.basename(py)} venv {worker}", file=sys.stderr, flush=True)
            rc, out, err = run([py, os.path.join(HERE, worker), path], env=env)
            if "@@RESULTS@@" not in out:
                for j in jobs:
                    row, _ = self.pending_jobs[j["id"]]
                    row["status"] = "FAIL"
                    row["notes"].append(f"worker {worker} crashed (exit {rc}): {err.strip()[-400:]}")
                continue
            doc = json.loads(out.split("@@RESULTS@@", 1)[1])
            self.versions.update(doc["versions"])
            for res in doc["results"]:
                row, kind = self.pending_jobs[res["id"]]
                self.judge(row, kind, res)

    def judge(self, row, kind, res):
        if "error" in res:
            row["status"] = "FAIL"
            row["notes"].append(res["error"])
            row["traceback"] = res.get("traceback")
            return
        if "pending" in res:
            row["status"] = "pending"
            row["notes"].append(res["pending"])
            return
        if kind in ("check", "selftest"):
            tol = TOL["float32"] if row["target"] in ("onnx", "(itself)") else TOL.get(row.get("dtype"), 1e-5)
            row["cells"] = max(c["diff"] for c in res["cells"])
            row["per_cell"] = res["cells"]
            row["model"] = res.get("model")
            row["tol"] = tol
            row["notes"] += res.get("notes", [])
            worst = max(row["cells"], row["model"] if row["model"] is not None else 0.0)
            row["status"] = "ok" if worst <= tol else "FAIL"
            if worst > tol:
                row["notes"].append(f"exceeds tolerance {tol:g}")
        elif kind in ("trap_reset_after", "trap_missing_key"):
            row["status"] = "ok" if res["refused"] else "FAIL"
            row["notes"].append(("refused: " if res["refused"] else "NOT refused: ") + res["message"]
                                + (f" (deleted {res['deleted']})" if "deleted" in res else ""))
        elif kind == "negative_swap_zr":
            row["cells"] = max(c["diff"] for c in res["cells"])
            row["model"] = res.get("model")
            big = row["cells"] >= NEGATIVE_MIN
            row["status"] = "ok" if big else "FAIL"
            row["notes"].append(f"swapped {len(res.get('swapped', []))} tensor(s); comparison "
                                + ("catches it" if big else "does NOT catch it"))


def fmt(x):
    return "—" if x is None else f"{x:.3g}"


def table(rows):
    lines = ["| source | kind | target | loaded by | status | max abs diff, cells | max abs diff, model | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        notes = "; ".join(n.replace("|", "/").replace("\n", " ") for n in r.get("notes", []))
        lines.append(f"| {r['source']} | {r['kind']} | {r['target']} | {r['loader']} | {r['status']} | "
                     f"{fmt(r.get('cells'))} | {fmt(r.get('model'))} | {notes} |")
    return "\n".join(lines)


def extras_table(rows):
    lines = ["| check | output of | loaded by | status | max abs diff, cells | model | notes |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        notes = "; ".join(n.replace("|", "/") for n in r.get("notes", []))
        lines.append(f"| {r['title']} | {r['source']} → {r['target']} | {r['loader']} | {r['status']} | "
                     f"{fmt(r.get('cells'))} | {fmt(r.get('model'))} | {notes} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default=os.path.join(ROOT, ".build/release/gru-convert"))
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="'' to not write")
    ap.add_argument("--keep", help="keep converted files in this folder (default: a temp folder, removed)")
    ap.add_argument("--json", help="also write every row (with per-cell diffs) as JSON here")
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="gru_interop_")
    os.makedirs(work, exist_ok=True)
    c = Checker(os.path.abspath(a.tool), os.path.abspath(work))
    rc, ver, _ = run([c.tool, "--version"])
    c.versions["gru-convert"] = ver.strip()
    c.plan()
    c.plan_extras()
    c.plan_selftests()
    c.dispatch()
    bad = [r for r in c.rows + c.extras if r["status"] not in ("ok", "refused-as-expected", "pending")]
    within = [r for r in c.rows if r["status"] == "ok"]
    worst32 = max((r["cells"] if r["model"] is None else max(r["cells"], r["model"]) for r in within
                   if r.get("dtype") != "float64" or r["target"] == "onnx"), default=None)
    worst64 = max((r["cells"] if r["model"] is None else max(r["cells"], r["model"]) for r in within
                   if r.get("dtype") == "float64" and r["target"] != "onnx"), default=None)
    refused = [r["cells"] for r in c.rows if r["status"] == "refused-as-expected"]
    summary = [f"pairs: {len(c.rows)} rows; ok {len(within)}, refused-as-expected "
               f"{sum(r['status'] == 'refused-as-expected' for r in c.rows)}, pending "
               f"{sum(r['status'] == 'pending' for r in c.rows)}, FAIL {sum(r['status'] == 'FAIL' for r in c.rows)}",
               f"largest within-family difference: float32 {fmt(worst32)} (tolerance 1e-5), float64 {fmt(worst64)} "
               f"(tolerance 1e-12)",
               f"cross-family refusals: measured differences {', '.join(fmt(x) for x in refused) or 'none'}",
               f"traps and negative controls: {sum(r['status'] == 'ok' for r in c.extras)} ok, "
               f"{sum(r['status'] == 'pending' for r in c.extras)} pending, "
               f"{sum(r['status'] == 'FAIL' for r in c.extras)} FAIL"]
    observations = []
    hdf5_onnx = [r for r in c.rows if r["target"] == "onnx" and any("is HDF5" in n for n in r["notes"])]
    if hdf5_onnx:
        observations.append(f"`--to onnx` exited 0 for {len(hdf5_onnx)} source(s) but wrote an HDF5 file named *.onnx "
                            "(onnx.load: DecodeError); rows marked pending until the ONNX writer lands")
    kept = [r for r in c.rows if r["target"] == "torch" and any("module state dict" in n for n in r["notes"])]
    for r in kept:
        observations.append(f"{r['source']} --to torch keeps the module prefix, the non-GRU tensors and __metadata__ "
                            "(PyTorch into PyTorch: the module's own state dict, byte for byte): it loads strictly into "
                            "the source module's shape, not into a bare nn.GRU")
    summary += observations
    text = table(c.rows) + "\n\n" + extras_table(c.extras) + "\n\n" + "\n".join(summary)
    print(text)
    for r in c.rows + c.extras:
        if r.get("traceback") and r["status"] == "FAIL":
            print(f"\n--- {r['source']} -> {r['target']} ({r['loader']}):\n{r['traceback']}", file=sys.stderr)
    if a.results:
        vers = ", ".join(f"{k} {v}" for k, v in sorted(c.versions.items()))
        with open(a.results, "w") as f:
            f.write(f"# gru-convert interop results\n\nMeasured {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} "
                    f"by `python3 interop/check.py` (see interop/README.md).\n\nVersions: {vers}.\n\n"
                    f"Tolerance: max abs diff ≤ 1e-5 (float32), ≤ 1e-12 (float64; onnxruntime runs float32 only). "
                    f"Each row: `gru-convert convert SRC OUT --to TARGET`, OUT loaded by the framework's own loader, "
                    f"every loaded cell run alone by the framework on the source reference's inputs and initial state; "
                    f"\"model\": the whole loaded model on the reference's model inputs (zero state).\n\n"
                    f"## Conversions\n\n{table(c.rows)}\n\n## Loader traps and negative controls\n\n"
                    f"{extras_table(c.extras)}\n\n## Summary\n\n" + "\n".join(f"* {s}" for s in summary) + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": c.rows, "extras": c.extras, "versions": c.versions, "commands": c.commands}, f, indent=1)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
