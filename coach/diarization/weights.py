"""The GE2E speaker-encoder weights: found in the resemblyzer wheel, converted once, verified.

Resemblyzer (Apache-2.0) ships its trained encoder as a torch checkpoint. We
want the weights, not torch (gigabytes of GPU libraries), so the wheel is
installed without dependencies and its `pretrained.pt` is read with a safe
unpickler, checked against a known sha256, and converted once into an .npz in
the model cache. At run time only the .npz is read, and its content digest is
checked once per process before use: unverified weights are never run.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coach.diarization.checkpoint import CheckpointError, load_legacy_checkpoint
from coach.errors import ModelError
from coach.models import _package_file, sha256_of
from coach.paths import model_cache

NAME = "ge2e"
INSTALL_HINT = "install it with 'pip install --no-deps resemblyzer==0.1.4', then run 'coach models install'"


@dataclass(frozen=True)
class EncoderWeightsSpec:
    """Where the weights come from and what they must hash to."""

    package_file: str = "resemblyzer/pretrained.pt"
    wheel: str = "resemblyzer==0.1.4"
    source_size: int = 17_090_379
    source_sha256: str = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
    # sha256 over each kept array's name, dtype, shape and bytes, in name order (see content_digest):
    # independent of how numpy lays out the .npz container.
    weights_sha256: str = "0997d7f0dff72188c21d3db8e357ab9f5525dfb181fff40b7c09ca28fa255f07"
    cache_name: str = "ge2e.npz"


SPEC = EncoderWeightsSpec()
_LSTM_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
KEEP = (
    *(f"lstm.{kind}_l{layer}" for layer in range(3) for kind in _LSTM_PARAMS),
    "linear.weight",
    "linear.bias",
)

_VERIFIED: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def cache_path(spec: EncoderWeightsSpec = SPEC) -> Path:
    return model_cache() / NAME / spec.cache_name


def source_file(spec: EncoderWeightsSpec = SPEC) -> Path | None:
    """The checkpoint inside the installed resemblyzer package (found without importing it)."""
    return _package_file(spec.package_file)


def content_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}\n".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _read_source(path: Path, spec: EncoderWeightsSpec) -> dict[str, np.ndarray]:
    size = path.stat().st_size
    if size != spec.source_size or sha256_of(path) != spec.source_sha256:
        raise ModelError(
            f"speaker encoder: {path} is not the expected {spec.wheel} checkpoint "
            f"({size} bytes, sha256 mismatch); reinstall with "
            f"'pip install --no-deps --force-reinstall {spec.wheel}', then run 'coach models install'"
        )
    try:
        tree = load_legacy_checkpoint(path)
        state = tree["model_state"]
        return {name: np.asarray(state[name], dtype=np.float32) for name in KEEP}
    except (CheckpointError, KeyError, TypeError) as exc:
        raise ModelError(f"speaker encoder: cannot read {path}: {exc}") from exc


def install(force: bool = False, spec: EncoderWeightsSpec = SPEC) -> Path:
    """Convert the resemblyzer checkpoint into the cache (atomically) and verify the result."""
    target = cache_path(spec)
    if target.is_file() and not force:
        load_weights(spec)
        return target
    source = source_file(spec)
    if source is None:
        raise ModelError(f"speaker encoder weights not found (resemblyzer is not installed); {INSTALL_HINT}")
    arrays = _read_source(source, spec)
    if content_digest(arrays) != spec.weights_sha256:
        raise ModelError(
            f"speaker encoder: converted weights from {source} fail their sha256 check; "
            f"reinstall with 'pip install --no-deps --force-reinstall {spec.wheel}'"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    fd, staging = tempfile.mkstemp(prefix=".ge2e-", suffix=".npz", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.getvalue())
        os.chmod(staging, 0o644)  # mkstemp makes it private; the cache is shared like the Whisper model
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    _VERIFIED.pop(_stamp(target), None)
    load_weights(spec)
    return target


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def load_weights(spec: EncoderWeightsSpec = SPEC) -> dict[str, np.ndarray]:
    """The verified encoder weights; converted on first use if resemblyzer is installed."""
    path = cache_path(spec)
    if not path.is_file():
        if source_file(spec) is None:
            raise ModelError(f"speaker encoder weights not found ({path} missing); {INSTALL_HINT}")
        install(spec=spec)
    stamp = _stamp(path)
    if stamp in _VERIFIED:
        return _VERIFIED[stamp]
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in KEEP}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"speaker encoder: {path} is unreadable ({exc}); run 'coach models install --force'"
        ) from exc
    if content_digest(arrays) != spec.weights_sha256:
        raise ModelError(
            f"speaker encoder: {path} fails its sha256 check (corrupt); run 'coach models install --force'"
        )
    _VERIFIED.clear()
    _VERIFIED[stamp] = arrays
    return arrays


def state(spec: EncoderWeightsSpec = SPEC) -> str:
    """One line for `coach models`: verified, convertible, missing or corrupt."""
    path = cache_path(spec)
    if not path.is_file():
        if source_file(spec) is None:
            return f"not installed; {INSTALL_HINT}"
        return "not converted yet (run 'coach models install')"
    try:
        load_weights(spec)
    except ModelError as exc:
        return f"CORRUPT: {exc}"
    return f"verified, {path}"
