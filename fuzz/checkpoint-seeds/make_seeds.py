#!/usr/bin/env python3
"""Seeds for gru-fuzz-checkpoint: every checkpoint under fixtures/checkpoints/ (the TensorFlow-made ones and
the damaged copies in bad/) in the harness's input layout, one file each, in this folder.

The layout (fuzz/harness/Sources/gru-fuzz-checkpoint/main.swift reads it; every length is clipped to what
is left of the input):
    u32 LE  index length L, then L bytes: PREFIX.index
    u8      flags: bit 0 = a `checkpoint` state file follows (the harness then opens the directory);
            bit 1 = no index file at all
    [u32 LE length + bytes: the `checkpoint` state file, when bit 0 is set]
    then data files until the input ends, each: u8 shard, u8 shard count, u32 LE length, bytes
            (PREFIX.data-<shard>-of-<count>)

    python3 fuzz/checkpoint-seeds/make_seeds.py                   # all seeds, from the repository root
    python3 fuzz/checkpoint-seeds/make_seeds.py --one DIR OUT     # one checkpoint folder into one input
    python3 fuzz/checkpoint-seeds/make_seeds.py --from-finding INPUT DIR
                                                                  # an input (a finding) back into the
                                                                  # checkpoint folder the harness wrote
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = re.compile(r"^(.*)\.data-(\d{5})-of-(\d{5})$")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def encode(folder, state_file=True):
    """One checkpoint folder (one prefix) in the input layout."""
    names = sorted(os.listdir(folder))
    indexes = [n for n in names if n.endswith(".index")]
    data = [(m.group(1), int(m.group(2)), int(m.group(3)), n) for n in names if (m := DATA.match(n))]
    prefixes = {n[:-len(".index")] for n in indexes} | {d[0] for d in data}
    if len(prefixes) != 1:
        raise SystemExit(f"{folder}: expected one checkpoint prefix, found {sorted(prefixes)}")
    prefix = prefixes.pop()
    index = read(os.path.join(folder, prefix + ".index")) if indexes else b""
    flags = 0 if indexes else 2
    out = struct.pack("<I", len(index)) + index
    state = os.path.join(folder, "checkpoint")
    if state_file and os.path.isfile(state):
        flags |= 1
        text = read(state)
        out += bytes([flags]) + struct.pack("<I", len(text)) + text
    else:
        out += bytes([flags])
    for _, shard, count, name in sorted(data, key=lambda d: (d[1], d[2])):
        if shard > 255 or count > 255:
            raise SystemExit(f"{folder}/{name}: shard numbers above 255 do not fit the layout")
        body = read(os.path.join(folder, name))
        out += bytes([shard, count]) + struct.pack("<I", len(body)) + body
    return out


def decode(data, folder):
    """What the harness writes for input `data`, into `folder` (prefix model.ckpt); mirrors its parsing."""
    os.makedirs(folder, exist_ok=True)
    position = 0

    def byte():
        nonlocal position
        if position >= len(data):
            return None
        position += 1
        return data[position - 1]

    def length():
        value = 0
        for shift in range(0, 32, 8):
            b = byte()
            if b is None:
                break
            value |= b << shift
        return min(value, len(data) - position)

    def take(count):
        nonlocal position
        position += count
        return data[position - count:position]

    def write(name, body):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(body)

    index = take(length())
    flags = byte() or 0
    if not flags & 2:
        write("model.ckpt.index", index)
    if flags & 1:
        write("checkpoint", take(length()))
    files = 0
    while files < 8 and position < len(data):
        shard, count = byte() or 0, byte() or 0
        write(f"model.ckpt.data-{shard:05d}-of-{count:05d}", take(length()))
        files += 1


def main():
    args = sys.argv[1:]
    if args[:1] == ["--one"] and len(args) == 3:
        with open(args[2], "wb") as f:
            f.write(encode(args[1]))
        return
    if args[:1] == ["--from-finding"] and len(args) == 3:
        decode(read(args[1]), args[2])
        return
    if args:
        raise SystemExit(__doc__)
    fixtures = os.path.join(ROOT, "fixtures", "checkpoints")
    written = 0
    for group, label in [(fixtures, ""), (os.path.join(fixtures, "bad"), "bad-")]:
        for name in sorted(os.listdir(group)):
            folder = os.path.join(group, name)
            if not os.path.isdir(folder) or name == "bad":
                continue
            # The good ones with their state file (the directory is opened, and the state file's stale
            # absolute path is followed by its base name); the damaged ones by their prefix.
            seed = encode(folder, state_file=not label)
            with open(os.path.join(HERE, f"{label}{name}.bin"), "wb") as f:
                f.write(seed)
            written += 1
            if not label and os.path.isfile(os.path.join(folder, "checkpoint")):
                with open(os.path.join(HERE, f"{name}-prefix.bin"), "wb") as f:
                    f.write(encode(folder, state_file=False))
                written += 1
    print(f"wrote {written} seeds to {os.path.relpath(HERE, ROOT)}")


if __name__ == "__main__":
    main()
