#!/usr/bin/env python3
"""Hand-made hostile checkpoints, built from the fixtures with fixtures/checkpoint_bytes.py. The fuzzer has
not found these; they came from reading the reader while it ran. Each one is a checkpoint folder (prefix
model.ckpt, the name the harness writes) in fuzz/checkpoint-regressions/<kind>-<sha1 of its input>/, where
fuzz/run.sh also seeds the fuzzer with it:

- slice-start-overflow (crash): tf1_partitioned with `head/kernel` given one piece whose first extent has
  start -2^63 and an explicit length -1. TFCheckpointFile.info(_:) computes `size - start` and traps
  (TFCheckpointFile.swift, info: `$0 == -1 ? size - start : ...`).
- copied-tensor-huge (oom): tf1_bidirectional with bw/candidate/bias declared [2^32] float32. That cell is
  a problem; converting the other cell alone (`--cell bidirectional_rnn/fw/gru_cell`) copies the problem's
  tensors, and HDF5Writer.copy(_:from:as:) allocates elementCount * 4 = 16 GiB before reading anything,
  with no check against the memory budget.
- copied-tensor-overflow (crash): the same declared [2^61] float32: elementCount * 4 overflows in
  HDF5Writer.copy(_:from:as:) and traps (libhdf5 accepts the dataset; [2^62] it refuses itself).
- growing-keys (timeout): an index of one data block holding the header and 12,000 keys, each sharing all
  of the previous key and adding one byte (5 bytes per entry on disk, keys of 1 ... 12,000 bytes: 72 MB of
  keys from a 60 KB index). SSTable materializes every key whole and compares each with the one before:
  quadratic time and memory that the memory budget does not bound.

    python3 fuzz/checkpoint-seeds/craft.py          # from the repository root; prints the folders written
"""
import hashlib
import os
import shutil
import struct
import sys
import tempfile

sys.dont_write_bytecode = True  # nothing written beside the fixtures' helpers
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "fixtures")
sys.path.insert(0, FIXTURES)
sys.path.insert(0, HERE)
from checkpoint_bytes import MAGIC, Table, block_crc, varint, write_table  # noqa: E402
from make_seeds import encode  # noqa: E402

OUT = os.path.join(ROOT, "fuzz", "checkpoint-regressions")


def v64(value):
    return varint(value & (2 ** 64 - 1))


def field(number, body):
    """A length-delimited protobuf field."""
    return bytes([number << 3 | 2]) + varint(len(body)) + body


def copy_data(source, folder):
    for name in os.listdir(source):
        if ".data-" in name:
            shutil.copy(os.path.join(source, name), os.path.join(folder, "model.ckpt.data-" + name.split(".data-")[1]))


def rewrite(source, folder, replace):
    """The source's checkpoint with some index values replaced ({key: value}), the index rebuilt."""
    copy_data(source, folder)
    (index,) = [n for n in os.listdir(source) if n.endswith(".index")]
    entries = [(k, replace.get(k, v)) for k, v in Table(open(os.path.join(source, index), "rb").read()).entries]
    with open(os.path.join(folder, "model.ckpt.index"), "wb") as f:
        f.write(write_table(entries))


def slice_start_overflow(folder):
    shape = field(2, b"\x08\x04") + field(2, b"\x08\x06")
    piece = field(1, b"\x08" + v64(-2 ** 63) + b"\x10" + v64(-1)) + field(1, b"\x10\x06")
    entry = b"\x08\x01" + field(2, shape) + field(7, piece)
    rewrite(os.path.join(FIXTURES, "checkpoints", "tf1_partitioned"), folder, {b"head/kernel": entry})


def copied_tensor(folder, elements):
    entry = b"\x08\x01" + field(2, field(2, b"\x08" + varint(elements))) + b"\x28\x10" + bytes.fromhex("3540fddb77")
    rewrite(os.path.join(FIXTURES, "checkpoints", "tf1_bidirectional"), folder,
            {b"bidirectional_rnn/bw/gru_cell/candidate/bias": entry})


def copied_tensor_huge(folder):
    copied_tensor(folder, 2 ** 32)


def copied_tensor_overflow(folder):
    copied_tensor(folder, 2 ** 61)


def growing_keys(folder, count=12000):
    header = bytes.fromhex("08011a020801")
    body = bytearray(varint(0) + varint(0) + varint(len(header)) + header)
    for length in range(1, count + 1):
        body += varint(length - 1) + varint(1) + varint(0) + b"a"
    out = bytearray()

    def block(raw):
        offset = len(out)
        out.extend(raw + b"\x00" + struct.pack("<I", block_crc(raw, 0)))
        return offset, len(raw)

    one_restart = struct.pack("<II", 0, 1)
    data = block(bytes(body) + one_restart)
    meta = block(one_restart)
    handle = varint(data[0]) + varint(data[1])
    index = block(varint(0) + varint(1) + varint(len(handle)) + b"b" + handle + one_restart)
    footer = varint(meta[0]) + varint(meta[1]) + varint(index[0]) + varint(index[1])
    out += footer + bytes(40 - len(footer)) + struct.pack("<Q", MAGIC)
    with open(os.path.join(folder, "model.ckpt.index"), "wb") as f:
        f.write(out)
    open(os.path.join(folder, "model.ckpt.data-00000-of-00001"), "wb").close()


def main():
    for kind, make in [("crash", slice_start_overflow), ("oom", copied_tensor_huge), ("crash", copied_tensor_overflow),
                       ("timeout", growing_keys)]:
        with tempfile.TemporaryDirectory() as scratch:
            make(scratch)
            name = f"{kind}-{hashlib.sha1(encode(scratch)).hexdigest()}"
            target = os.path.join(OUT, name)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(scratch, target)
            os.chmod(target, 0o755)
        print(f"{make.__name__}: {os.path.relpath(target, ROOT)}")


if __name__ == "__main__":
    main()
