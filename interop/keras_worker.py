"""Keras half of the checks, used by run_keras2.py (tf-keras) and run_keras3.py (Keras 3): the env var
TF_USE_LEGACY_KERAS must be set by the caller before this module is imported.

A job: out (the converted file), reference (the SOURCE's reference .h5), layers [{bidirectional, units,
input_size, dtype, reset_after, cells: [{scope, group}] (forward first)}], model ({time_major,
squeeze_dir_axis} or null), mode: check | trap_reset_after | negative_swap_zr."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

from common import corrupt_h5, maxdiff, model_io, read_group, temp_copy

LEGACY = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
if LEGACY:
    import tf_keras as K
else:
    import keras as K


def versions():
    v = {"tensorflow": tf.__version__}
    if LEGACY:
        v["tf-keras"] = K.__version__
    else:
        v["keras"] = K.__version__
    return v


def build(job, flip=False):
    """Sequential([Input, GRU or Bidirectional(GRU) per layer]); each layer's reset_after from the file's family
    (`flip`: the opposite, for the trap)."""
    K.backend.clear_session()
    layers = job["layers"]
    dtype = layers[0]["dtype"]
    stack = [K.Input((None, layers[0]["input_size"]), dtype=dtype)]
    for L in layers:
        gru = K.layers.GRU(L["units"], return_sequences=True, reset_after=L["reset_after"] != flip, dtype=dtype)
        stack.append(K.layers.Bidirectional(gru) if L["bidirectional"] else gru)
    return K.Sequential(stack)


def gru_layers(model):
    """[[forward GRU, backward GRU?]] per model layer."""
    out = []
    for layer in model.layers:
        if isinstance(layer, K.layers.Bidirectional):
            out.append([layer.forward_layer, layer.backward_layer])
        elif isinstance(layer, K.layers.GRU):
            out.append([layer])
    return out


def run_cell(gru, x, h0):
    """The loaded cell alone: a fresh one-direction GRU from the layer's config, given the loaded weights
    (get_weights of the loaded layer), forward in time from h0."""
    config = dict(gru.get_config(), return_sequences=True, return_state=False, go_backwards=False,
                  stateful=False, name="cellrun")
    layer = type(gru).from_config(config)
    x, h0 = tf.constant(x), tf.constant(h0)
    layer(x, initial_state=[h0])
    layer.set_weights(gru.get_weights())
    return np.asarray(layer(x, initial_state=[h0]))


def check(job, path):
    model = build(job)
    model.load_weights(path)
    grus = gru_layers(model)
    res = {"cells": []}
    for L, layer_grus in zip(job["layers"], grus):
        for cell, gru in zip(L["cells"], layer_grus):
            assert bool(gru.cell.reset_after) == L["reset_after"]
            r = read_group(job["reference"], cell["group"])
            y = run_cell(gru, r["inputs"].astype(L["dtype"]), r["initial_state"].astype(L["dtype"]))
            res["cells"].append({"scope": cell["scope"], "group": cell["group"], "diff": maxdiff(y, r["outputs"])})
    io = model_io(job)
    if io is not None:
        x, y = io
        res["model"] = maxdiff(np.asarray(model(x.astype(job["layers"][0]["dtype"]))), y)
    return res


def handle(job):
    mode = job.get("mode", "check")
    if mode == "check":
        return check(job, job["out"])
    if mode == "negative_swap_zr":
        path = temp_copy(job["out"])
        if path.endswith(".weights.h5"):
            f = lambda n: n.endswith("cell/vars/0")                                 # noqa: E731 kernel
        else:
            f = lambda n: n.endswith("/kernel:0") and "recurrent" not in n          # noqa: E731
        swapped = corrupt_h5(path, f, 1, 0, 1, None)
        res = check(job, path)
        res["swapped"] = swapped
        return res
    if mode == "trap_reset_after":
        # Load into a model whose reset_after is the opposite of the file's: Keras must refuse.
        model = build(job, flip=True)
        try:
            model.load_weights(job["out"])
        except Exception as e:  # noqa: BLE001
            return {"refused": True, "message": f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"[:300]}
        return {"refused": False, "message": "load_weights accepted a file of the other family"}
    raise ValueError(mode)
