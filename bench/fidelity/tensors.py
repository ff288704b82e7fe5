"""safetensors bytes <-> numpy arrays, and the frame stream of bench/fidelity/stream.ts
(each frame: u64 LE byte length, then a safetensors blob whose metadata key "frame"
holds the frame's JSON description). Debian's python3 has no safetensors package."""
import json
import struct

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def decode(buf):
    """(tensors by name, metadata) of a safetensors blob."""
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(bytes(buf[8 : 8 + n]))
    meta = header.pop("__metadata__", {})
    data = memoryview(buf)[8 + n :]
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).copy()
    return tensors, meta


def encode(tensors, metadata=None):
    """A safetensors blob of numpy arrays (names sorted, data 8-byte aligned)."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read_file(path):
    with open(path, "rb") as f:
        return decode(f.read())


def write_file(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata))


def _read_exactly(stream, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            raise EOFError(f"stream ended {n - got} bytes into a frame")
        got += k
    return buf


def frames(stream):
    """Yields (description, tensors) for each frame of a binary stream, up to the `end` frame."""
    while True:
        (n,) = struct.unpack("<Q", _read_exactly(stream, 8))
        tensors, meta = decode(_read_exactly(stream, n))
        desc = json.loads(meta["frame"])
        if desc["kind"] == "end":
            return
        yield desc, tensors
