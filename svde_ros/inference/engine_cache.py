"""TensorRT engine cache: a key of everything an engine depends on, and verified entries.

An engine is only valid for the TensorRT version, GPU (name + compute capability), precision,
input shape and exact ONNX file it was built from. Each entry is `<stem>-<digest>.engine` plus a
JSON beside it holding the key and the engine's sha256; an entry whose JSON is missing, names
another key, or whose engine bytes do not match (truncated, corrupt) is reported stale and must
be rebuilt, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_shape: tuple[int, ...]
    onnx_sha256: str

    def digest(self) -> str:
        """Short stable hash of the key."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def entry_paths(cache_dir: Path, onnx_path: Path, key: EngineKey) -> tuple[Path, Path]:
    """(engine file, metadata JSON) of the cache entry for `key`."""
    stem = f'{onnx_path.stem}-{key.precision}-{key.digest()}'
    return cache_dir / f'{stem}.engine', cache_dir / f'{stem}.json'


def load_engine(cache_dir: Path, onnx_path: Path, key: EngineKey) -> bytes | None:
    """The cached engine bytes for `key`, or None (logging why) when absent or stale."""
    engine_path, meta_path = entry_paths(cache_dir, onnx_path, key)
    if not engine_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        LOG.warning('engine cache: %s has no readable metadata; rebuilding', engine_path)
        return None
    if meta.get('key') != json.loads(json.dumps(asdict(key))):
        LOG.warning('engine cache: %s was built for another configuration; rebuilding',
                    engine_path)
        return None
    data = engine_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta.get('engine_sha256'):
        LOG.warning('engine cache: %s is truncated or corrupt (%d bytes); rebuilding',
                    engine_path, len(data))
        return None
    return data


def store_engine(cache_dir: Path, onnx_path: Path, key: EngineKey, engine: bytes,
                 build_seconds: float) -> Path:
    """Write an entry atomically (engine first, then the metadata that validates it)."""
    engine_path, meta_path = entry_paths(cache_dir, onnx_path, key)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for path, data in ((engine_path, engine), (meta_path, json.dumps({
            'key': asdict(key), 'engine_sha256': hashlib.sha256(engine).hexdigest(),
            'engine_bytes': len(engine), 'onnx': str(onnx_path),
            'build_seconds': round(build_seconds, 1)}, indent=2).encode())):
        tmp = path.with_name(f'.{path.name}.tmp')
        tmp.write_bytes(data)
        tmp.replace(path)
    return engine_path


def invalidate(cache_dir: Path, onnx_path: Path, key: EngineKey) -> None:
    """Remove an entry that failed to deserialize."""
    for path in entry_paths(cache_dir, onnx_path, key):
        path.unlink(missing_ok=True)
