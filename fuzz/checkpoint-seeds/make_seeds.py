#!/usr/bin/env python3
"""Seeds for gru-fuzz-checkpoint: every checkpoint under fixtures/checkpoints/ (the TensorFlow-made ones, the
damaged copies in bad/, and those this tool wrote in written/, several prefixes to a folder there) in the
harness's input layout, one file each, in this folder; and two made here
from tf1_single for what no fixture has: its tensors as float16 (synthetic-float16), and a header with
bad_consumers and unknown fixed32/fixed64 fields (synthetic-header-fields).

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

sys.dont_write_bytecode = True  # nothing written beside the fixtures' helpers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = re.compile(r"^(.*)\.data-(\d{5})-of-(\d{5})$")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def prefixes(folder):
    """The checkpoint prefixes of the files in `folder` (of an index or of data files)."""
    names = os.listdir(folder)
    return sorted({n[:-len(".index")] for n in names if n.endswith(".index")}
                  | {m.group(1) for n in names if (m := DATA.match(n))})


def encode(folder, state_file=True, prefix=None):
    """One checkpoint of a folder in the input layout: its only prefix, or `prefix`."""
    if prefix is None:
        found = prefixes(folder)
        if len(found) != 1:
            raise SystemExit(f"{folder}: expected one checkpoint prefix, found {found}")
        prefix = found[0]
    names = sorted(os.listdir(folder))
    indexes = [n for n in names if n == prefix + ".index"]
    data = [(m.group(1), int(m.group(2)), int(m.group(3)), n) for n in names if (m := DATA.match(n)) and m.group(1) == prefix]
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


def read_varint(buf, position):
    """fixtures/checkpoint_bytes.py's, imported late: only the synthetic seeds need fixtures/ on the path."""
    sys.path.insert(0, os.path.join(ROOT, "fixtures"))
    from checkpoint_bytes import read_varint as read
    return read(buf, position)


def proto_fields(value):
    """(number, wire type, raw bytes of the whole field) of a protobuf message, for the fields used here."""
    position, fields = 0, []
    while position < len(value):
        start = position
        key, position = read_varint(value, position)
        wire = key & 7
        if wire == 0:
            _, position = read_varint(value, position)
        elif wire == 2:
            length, position = read_varint(value, position)
            position += length
        elif wire == 5:
            position += 4
        elif wire == 1:
            position += 8
        else:
            raise ValueError(f"wire type {wire}")
        fields.append((key >> 3, wire, value[start:position]))
    return fields


def synthetic(folder, kind):
    """tf1_single rewritten: as float16, or with a header that has more fields."""
    sys.path.insert(0, os.path.join(ROOT, "fixtures"))
    import tempfile
    from checkpoint_bytes import Table, crc32c, mask, varint, write_table
    entries = Table(read(os.path.join(folder, "model.ckpt.index"))).entries
    data = read(os.path.join(folder, "model.ckpt.data-00000-of-00001"))
    out_entries, out_data = [], bytearray()
    for key, value in entries:
        fields = proto_fields(value)
        if key == b"" and kind == "header-fields":
            version = bytes.fromhex("0801") + bytes.fromhex("1a0102")  # producer 1, bad_consumers [2] (packed)
            value = bytes.fromhex("0801") + b"\x1a" + varint(len(version)) + version \
                + b"\x49" + struct.pack("<Q", 7) + b"\x55" + struct.pack("<I", 7)
        elif key and kind == "float16":
            numbers = {n: raw for n, _, raw in fields}
            offset = proto_value(numbers[4]) if 4 in numbers else 0
            size = proto_value(numbers[5])
            values = struct.unpack(f"<{size // 4}f", data[offset:offset + size])
            half = struct.pack(f"<{len(values)}e", *values)
            value = b"\x08\x13" + numbers[2] + b"\x20" + varint(len(out_data)) + b"\x28" + varint(len(half)) \
                + b"\x35" + struct.pack("<I", mask(crc32c(half)))
            out_data += half
        out_entries.append((key, value))
    scratch = tempfile.mkdtemp()
    with open(os.path.join(scratch, "model.ckpt.index"), "wb") as f:
        f.write(write_table(out_entries))
    with open(os.path.join(scratch, "model.ckpt.data-00000-of-00001"), "wb") as f:
        f.write(bytes(out_data) if kind == "float16" else data)
    seed = encode(scratch)
    for name in os.listdir(scratch):
        os.unlink(os.path.join(scratch, name))
    os.rmdir(scratch)
    return seed


def proto_value(raw):
    """The varint value of a whole varint field (key byte first)."""
    return read_varint(raw, 1)[0]


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
    # Checkpoints this tool wrote (when the fixtures have them): several prefixes loose in written/, each a
    # seed of its own, and folders of one checkpoint like the others.
    loose = os.path.join(fixtures, "written")
    if os.path.isdir(loose):
        for prefix in prefixes(loose):
            with open(os.path.join(HERE, f"written-{prefix}.bin"), "wb") as f:
                f.write(encode(loose, state_file=False, prefix=prefix))
            written += 1
    for group, label in [(fixtures, ""), (os.path.join(fixtures, "bad"), "bad-"), (loose, "written-")]:
        for name in sorted(os.listdir(group)) if os.path.isdir(group) else []:
            folder = os.path.join(group, name)
            if not os.path.isdir(folder) or name in ("bad", "written"):
                continue
            # The good ones with their state file (the directory is opened, and the state file's stale
            # absolute path is followed by its base name), and by their prefix; the damaged ones by their prefix.
            seed = encode(folder, state_file=label != "bad-")
            with open(os.path.join(HERE, f"{label}{name}.bin"), "wb") as f:
                f.write(seed)
            written += 1
            if label != "bad-" and os.path.isfile(os.path.join(folder, "checkpoint")):
                with open(os.path.join(HERE, f"{label}{name}-prefix.bin"), "wb") as f:
                    f.write(encode(folder, state_file=False))
                written += 1
    single = os.path.join(fixtures, "tf1_single")
    for kind in ["float16", "header-fields"]:
        with open(os.path.join(HERE, f"synthetic-{kind}.bin"), "wb") as f:
            f.write(synthetic(single, kind))
        written += 1
    print(f"wrote {written} seeds to {os.path.relpath(HERE, ROOT)}")


if __name__ == "__main__":
    main()
