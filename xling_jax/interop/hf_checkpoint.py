"""Tensors of a Hugging Face model folder, read one at a time: `model.safetensors`, the shards listed in
`model.safetensors.index.json`, or `pytorch_model.bin` (with torch, `weights_only=True`).

A safetensors file is an 8-byte header length, a JSON header ({name: dtype, shape, data_offsets})
and the raw data. It is read here directly: each tensor is a memory map of its own bytes, so a
multi-gigabyte checkpoint streams into xling without a second full copy, 16-bit tensors
(bfloat16 through ml_dtypes) included, and a truncated or malformed file is named precisely
before any data is used.
"""
import json
import os
import struct

import ml_dtypes
import numpy as np

from xling_jax.errors import UserError

WEIGHTS, WEIGHTS_INDEX, TORCH_WEIGHTS = "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"
DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
          "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
MAX_HEADER = 100 << 20  # the format's own limit on the JSON header


def _header(path: str) -> tuple[dict, int]:
    """({name: {dtype, shape, data_offsets}}, byte offset of the data) of a safetensors file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise UserError(f"{path} is not a safetensors file (only {size} bytes); download it again")
        (n,) = struct.unpack("<Q", raw)
        if n > min(MAX_HEADER, size - 8):
            raise UserError(f"{path} is not a valid safetensors file (header of {n} bytes in a file of {size}); "
                            "download it again")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise UserError(f"{path} has a malformed safetensors header; download it again") from None
    header.pop("__metadata__", None)
    start = 8 + n
    for name, info in header.items():
        try:
            begin, end = info["data_offsets"]
            dtype = DTYPES[info["dtype"]]
            expected = int(np.prod(info["shape"], dtype=np.int64)) * np.dtype(dtype).itemsize
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: tensor {name!r} has a malformed entry {info!r} (or a dtype xling does not "
                            f"read; it reads {', '.join(DTYPES)})") from None
        if end - begin != expected:
            raise UserError(f"{path}: tensor {name!r} claims {end - begin} bytes for shape {info['shape']}; the "
                            "file is corrupt")
        if start + end > size:
            raise UserError(f"{path} is truncated ({size:,} bytes; tensor {name!r} ends at byte {start + end:,}); "
                            "download it again")
    return header, start


class Checkpoint:
    """`names()`, `shape(name)` and `get(name)` (a numpy array, memory-mapped where possible)."""

    def __init__(self, hf_dir: str):
        self.hf_dir = hf_dir
        self._where: dict[str, tuple[str, dict, int]] = {}  # name -> (file, header entry, data start)
        self._torch = None
        single, index = os.path.join(hf_dir, WEIGHTS), os.path.join(hf_dir, WEIGHTS_INDEX)
        if os.path.isfile(single):
            self._add(single)
        elif os.path.isfile(index):
            try:
                with open(index, encoding="utf-8") as f:
                    shards = sorted(set(json.load(f)["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError) as e:
                raise UserError(f"cannot read {index} ({e}); download it again") from None
            for shard in shards:
                path = os.path.join(hf_dir, shard)
                if not os.path.isfile(path):
                    raise UserError(f"{index} lists {shard}, which is missing from {hf_dir}")
                self._add(path)
        elif os.path.isfile(os.path.join(hf_dir, TORCH_WEIGHTS)):
            self._torch = _torch_state(os.path.join(hf_dir, TORCH_WEIGHTS))
        else:
            raise UserError(f"{hf_dir} has no {WEIGHTS}, {WEIGHTS_INDEX} or {TORCH_WEIGHTS}; pass a Hugging Face "
                            "model folder with its weights")

    def _add(self, path: str) -> None:
        header, start = _header(path)
        for name, info in header.items():
            self._where[name] = (path, info, start)

    def names(self) -> set[str]:
        return set(self._torch) if self._torch is not None else set(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        if self._torch is not None:
            return tuple(self._torch[name].shape)
        return tuple(self._where[name][1]["shape"])

    def get(self, name: str) -> np.ndarray:
        if self._torch is not None:
            t = self._torch[name]
            return (t.float() if t.dtype.is_floating_point and t.dtype != _torch_module().float32 else t).numpy()
        path, info, start = self._where[name]
        begin, _ = info["data_offsets"]
        shape = tuple(info["shape"])
        if not int(np.prod(shape, dtype=np.int64)):
            return np.zeros(shape, DTYPES[info["dtype"]])
        return np.memmap(path, dtype=DTYPES[info["dtype"]], mode="r", offset=start + begin, shape=shape)


def _torch_module():
    try:
        import torch
    except ImportError:
        raise UserError(f"this folder has only {TORCH_WEIGHTS}, which needs torch to read: pip install "
                        "'xling_jax[interop]' (or convert it to model.safetensors)") from None
    return torch


def _torch_state(path: str) -> dict:
    torch = _torch_module()
    try:  # weights_only: tensors and plain containers, never arbitrary pickled objects
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:
        raise UserError(f"cannot read {path} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); download it "
                        "again or convert it to model.safetensors") from None
    return state.get("state_dict", state) if isinstance(state, dict) else state
