"""Writes the hand-made seeds of the safetensors fuzz target (fuzz/run.sh SECONDS safetensors), beside this
script: every dtype the format defines with `__metadata__`, and a file with no tensors. The PyTorch-made
files of fixtures/frameworks/ are seeds too. Plain Python: struct and json only.

    python3 fuzz/safetensors-seeds/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, tensors, metadata=None):
    """A safetensors file as the library writes one: header keys in order given, data back to back, the
    header padded with spaces so that 8 + its length is a multiple of 8."""
    header = {} if metadata is None else {"__metadata__": metadata}
    data = b""
    for tensor, dtype, shape, raw in tensors:
        header[tensor] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(os.path.join(HERE, name), "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + data)


WIDTHS = [("F16", 2), ("BF16", 2), ("F32", 4), ("F64", 8), ("I8", 1), ("U8", 1), ("I16", 2), ("U16", 2), ("I32", 4),
          ("U32", 4), ("I64", 8), ("U64", 8), ("BOOL", 1), ("F8_E5M2", 1), ("F8_E4M3", 1)]
write("dtypes.safetensors", [(dtype, dtype, [2], bytes(range(2 * width))) for dtype, width in WIDTHS], {"format": "pt"})
write("empty.safetensors", [])
