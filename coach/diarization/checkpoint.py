"""Read a legacy-format PyTorch checkpoint into numpy arrays, without torch.

Resemblyzer's `pretrained.pt` was written by `torch.save` before the zip
format (protocol 1001): three small pickles (magic number, protocol version,
system info), the main pickle whose tensors point at storages by persistent
id, the list of storage keys, then each storage's raw bytes preceded by its
element count. We rebuild every tensor as a numpy view of its storage.

The unpickler only admits the three globals such a state dict needs
(OrderedDict, the tensor rebuild function, the float/long storage types),
so a tampered file cannot run code while being read; anything else is
refused with a clear error.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a legacy torch checkpoint we can read safely."""


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return _STORAGE_DTYPES[self.name]


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class TensorRef:
    """A tensor whose storage bytes come later in the file; `array()` materialises it."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict = field(default_factory=dict)

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise CheckpointError("tensor storage was never read (truncated checkpoint)")
        if not self.shape:
            return data[self.offset].copy()
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) + 1
        if needed > data.size:
            raise CheckpointError("tensor runs past the end of its storage (corrupt checkpoint)")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.shape, strides=tuple(s * item for s in self.stride)
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, *rest):
    return TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh: BinaryIO, storages: dict[str, _Storage]):
        super().__init__(fh)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(f"refusing unexpected object {module}.{name} in the checkpoint")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r:.60}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if view_metadata is not None:
            raise CheckpointError("storage views are not supported")
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type.dtype, int(numel))
        return self._storages[key]


def _materialise(obj: Any) -> Any:
    if isinstance(obj, TensorRef):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((k, _materialise(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def load_legacy_checkpoint(path: Path) -> Any:
    """Return the checkpoint's object tree with every tensor as a numpy array."""
    with path.open("rb") as fh:
        try:
            magic = pickle.load(fh)
            protocol = pickle.load(fh)
            pickle.load(fh)  # sys info: endianness and type sizes, little-endian assumed below
        except Exception as exc:  # any failure here means "not this format"
            raise CheckpointError(f"{path}: not a legacy torch checkpoint ({exc})") from exc
        if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
            raise CheckpointError(f"{path}: not a legacy torch checkpoint (magic/protocol mismatch)")
        storages: dict[str, _Storage] = {}
        tree = _Unpickler(fh, storages).load()
        keys = pickle.load(fh)
        for key in keys:
            storage = storages.get(key)
            if storage is None:
                raise CheckpointError(f"{path}: storage {key} listed but never referenced")
            header = fh.read(8)
            if len(header) != 8:
                raise CheckpointError(f"{path}: truncated before storage {key}")
            (numel,) = struct.unpack("<q", header)
            raw = fh.read(numel * storage.dtype.itemsize)
            if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
                raise CheckpointError(f"{path}: storage {key} is truncated or has the wrong size")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(tree)
