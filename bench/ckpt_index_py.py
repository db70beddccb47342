"""The minimal Python reader of a TensorFlow V2 checkpoint's index that bench_checkpoint.py sets beside
`gru-convert inspect`: no TensorFlow, no protobuf package; reads PREFIX.index (the SSTable: footer, index
block, every data block; Snappy blocks through fixtures/checkpoint_bytes.py), decodes each BundleEntryProto's
dtype, shape and shard by hand, and prints one line per tensor: `name dtype [shape]`.

It checks no block checksum (`--crc` does, with fixtures/checkpoint_bytes.Table, whose crc32c is pure Python),
no header, no slices: what a user writes in twenty lines to list a checkpoint's variables.

usage: python3 bench/ckpt_index_py.py PREFIX [--crc]"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))

DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
          8: "complex64", 9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 18: "complex128",
          19: "float16", 22: "uint32", 23: "uint64"}


def varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """(field number, wire type, value) of a protobuf message; value is an int or a bytes slice."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = varint(buf, pos)
        wire = tag & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            n, pos = varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        else:
            raise ValueError(f"wire type {wire}")
        yield tag >> 3, wire, value


def entry(value):
    """BundleEntryProto: dtype = 1, shape = 2 (TensorShapeProto: dim = 2, Dim.size = 1), shard_id = 3."""
    dtype, shape = 0, []
    for number, _, v in fields(value):
        if number == 1:
            dtype = v
        elif number == 2:
            for n, _, dim in fields(v):
                if n == 2:
                    shape.append(next((s for k, _, s in fields(dim) if k == 1), 0))
    return DTYPES.get(dtype, f"dtype{dtype}"), shape


def block_entries(contents):
    (restarts,) = struct.unpack_from("<I", contents, len(contents) - 4)
    limit = len(contents) - 4 * (restarts + 1)
    pos, key = 0, b""
    while pos < limit:
        shared, pos = varint(contents, pos)
        unshared, pos = varint(contents, pos)
        size, pos = varint(contents, pos)
        key = key[:shared] + contents[pos:pos + unshared]
        pos += unshared
        yield key, contents[pos:pos + size]
        pos += size


def block(buf, handle):
    offset, pos = varint(handle, 0)
    size, _ = varint(handle, pos)
    stored = buf[offset:offset + size]
    if buf[offset + size] == 1:
        from checkpoint_bytes import snappy_decompress
        return snappy_decompress(bytes(stored))
    return stored


def main():
    prefix = sys.argv[1]
    if "--crc" in sys.argv:
        from checkpoint_bytes import Table
        with open(prefix + ".index", "rb") as f:
            table = Table(f.read())
        bad = [b.offset for b in table.data_blocks + [table.index, table.metaindex] if not b.crc_ok]
        if bad:
            sys.exit(f"block checksum mismatch at offsets {bad}")
        entries = table.entries
    else:
        with open(prefix + ".index", "rb") as f:
            buf = memoryview(f.read())
        footer = buf[-48:]
        if struct.unpack_from("<Q", footer, 40)[0] != 0xDB4775248B80FB57:
            sys.exit("not an sstable (bad magic number)")
        _, pos = varint(footer, 0)
        _, pos = varint(footer, pos)         # metaindex handle, skipped
        index = block(buf, footer[pos:])
        entries = [e for _, handle in block_entries(index) for e in block_entries(block(buf, handle))]
    out = []
    for key, value in entries:
        if not key:                          # the header entry (BundleHeaderProto)
            continue
        dtype, shape = entry(value)
        out.append(f"{bytes(key).decode()} {dtype} {shape}")
    sys.stdout.write("\n".join(out) + "\n")


main()
