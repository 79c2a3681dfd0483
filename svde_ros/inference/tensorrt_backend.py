"""TensorRT: engine build (TensorRT 10 and 11 code paths), cached engines, and the backend.

Only this module imports tensorrt; it is type-checked in CI against `tensorrt-stubs`. Without
TensorRT every function raises BackendError with install instructions; the torch and onnxruntime
backends keep working.
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from svde_ros.inference.backend import Backend, BackendError
from svde_ros.inference.engine_cache import EngineKey, invalidate, load_engine, store_engine
from svde_ros.inference.export import default_cache_dir, writable_cache
from svde_ros.inference.onnx_backend import depth_only_path, read_sidecar
from svde_ros.spimo import SpimoConfig

try:
    import tensorrt as trt
except ImportError:
    trt = None  # type: ignore[assignment]

LOG = logging.getLogger(__name__)
PRECISIONS = ('fp16', 'fp32')
INSTALL_HINT = (
    'TensorRT is not installed. On x86-64 with an NVIDIA driver: pip install tensorrt '
    '(from pypi.nvidia.com), or use the NVIDIA TensorRT container. On Jetson it ships with '
    'JetPack (apt install python3-libnvinfer). Meanwhile use backend torch or onnxruntime.')


def require_tensorrt() -> None:
    """Raise BackendError with installation advice when TensorRT is absent."""
    if trt is None:
        raise BackendError(INSTALL_HINT)


def _major(version: str) -> int:
    return int(version.split('.')[0])


def engine_key(onnx_path: Path, precision: str, input_shape: tuple[int, ...]) -> EngineKey:
    """The cache key of an engine for this GPU, TensorRT install, precision and model."""
    import torch

    require_tensorrt()
    if not torch.cuda.is_available():
        raise BackendError('TensorRT needs a CUDA GPU; torch sees none')
    major, minor = torch.cuda.get_device_capability()
    return EngineKey(str(trt.__version__), torch.cuda.get_device_name(), f'{major}.{minor}',
                     precision, tuple(input_shape),
                     hashlib.sha256(onnx_path.read_bytes()).hexdigest())


def _fp16_onnx(onnx_bytes: bytes) -> bytes:
    """The model with float16 weights and activations, float32 I/O (for strongly typed builds)."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError as err:
        raise BackendError('fp16 engines on TensorRT 11+ need onnxconverter-common: '
                           'pip install onnxconverter-common') from err
    model = float16.convert_float_to_float16(onnx.load_from_string(onnx_bytes),
                                             keep_io_types=True)
    return bytes(model.SerializeToString())


def build_serialized_engine(onnx_path: Path, precision: str, workspace_mb: int = 1024,
                            timing_cache: Path | None = None) -> bytes:
    """Parse the ONNX file and build a serialized engine.

    TensorRT 10: a weakly typed network with BuilderFlag.FP16 for fp16. TensorRT 11 dropped
    weak typing: the network is created strongly typed and fp16 comes from an fp16 copy of the
    model (float32 inputs and outputs kept).
    """
    if precision not in PRECISIONS:
        raise BackendError(f'unsupported precision {precision!r}; choose one of '
                           f'{", ".join(PRECISIONS)}')
    require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly_typed = _major(trt.__version__) >= 11
    flags = 0
    onnx_bytes = onnx_path.read_bytes()
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        if precision == 'fp16':
            onnx_bytes = _fp16_onnx(onnx_bytes)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f'TensorRT cannot parse {onnx_path}: {errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == 'fp16' and not strongly_typed:
        if not builder.platform_has_fast_fp16:
            LOG.warning('this GPU has no fast fp16; the fp16 engine may be slow')
        config.set_flag(trt.BuilderFlag.FP16)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b''
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=True)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f'TensorRT failed to build an engine from {onnx_path} (see the '
                           'TensorRT log above)')
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(serialized))


def cached_engine(onnx_path: Path, precision: str, cache_dir: Path,
                  workspace_mb: int = 1024) -> tuple[bytes, EngineKey]:
    """Load the engine for this model and GPU from the cache, building it when needed."""
    meta = read_sidecar(onnx_path)
    key = engine_key(onnx_path, precision, (1, 3, meta['input_height'], meta['input_width']))
    engine = load_engine(cache_dir, onnx_path, key)
    if engine is None:
        LOG.info('building a %s TensorRT engine for %s (once per GPU and model; minutes)',
                 precision, onnx_path)
        start = time.monotonic()
        engine = build_serialized_engine(onnx_path, precision, workspace_mb,
                                         cache_dir / 'timing.cache')
        path = store_engine(cache_dir, onnx_path, key, engine, time.monotonic() - start)
        LOG.info('engine built in %.1f s: %s', time.monotonic() - start, path)
    return engine, key


class _Engine:
    """One deserialized engine with its execution context and preallocated device buffers."""

    def __init__(self, runtime: Any, onnx_path: Path, precision: str, cache: Path,
                 workspace_mb: int) -> None:
        import torch

        engine_bytes, key = cached_engine(onnx_path, precision, cache, workspace_mb)
        engine = runtime.deserialize_cuda_engine(engine_bytes)
        if engine is None:
            LOG.warning('cached engine failed to deserialize; rebuilding')
            invalidate(cache, onnx_path, key)
            engine_bytes, key = cached_engine(onnx_path, precision, cache, workspace_mb)
            engine = runtime.deserialize_cuda_engine(engine_bytes)
            if engine is None:
                raise BackendError(f'TensorRT cannot deserialize the engine built from '
                                   f'{onnx_path}')
        self.engine = engine
        self.context = engine.create_execution_context()
        self.buffers: dict[str, Any] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dims = engine.get_tensor_shape(name)
            shape = tuple(dims[j] for j in range(len(dims)))
            dtype = torch.float16 if engine.get_tensor_dtype(name) == trt.DataType.HALF \
                else torch.float32
            self.buffers[name] = torch.empty(shape, dtype=dtype, device='cuda')
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.output_names = [n for n in ('depth', 'dispersion') if n in self.buffers]

    def run(self, image: np.ndarray, K: np.ndarray, stream: Any) -> list[np.ndarray]:
        import torch

        with torch.cuda.stream(stream):
            self.buffers['image'].copy_(torch.from_numpy(image), non_blocking=True)
            if 'K' in self.buffers:
                self.buffers['K'].copy_(torch.from_numpy(K), non_blocking=True)
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise BackendError('TensorRT execution failed')
            outputs = [self.buffers[n].float().cpu() for n in self.output_names]
        stream.synchronize()
        return [o.numpy() for o in outputs]


class TensorRTBackend(Backend):
    """Deserialized engines executed on a CUDA stream with preallocated device buffers.

    A SPIMO model gets two engines, depth + dispersion and depth only (when its export wrote
    the depth-only graph), picked per frame.
    """

    name = 'tensorrt'

    def __init__(self, onnx_path: str, precision: str = 'fp16',
                 cache_dir: str | None = None, workspace_mb: int = 1024) -> None:
        import torch

        require_tensorrt()
        path = Path(onnx_path)
        if not path.is_file():
            raise BackendError(f'ONNX model not found: {path}')
        meta = read_sidecar(path)
        spimo = SpimoConfig(**meta['spimo']) if meta.get('spimo') else None
        super().__init__(meta['input_height'], meta['input_width'], spimo)
        # The user's cache by default, as for the ONNX export: the model's own folder is often
        # read-only (an installed share/ folder).
        cache = writable_cache(Path(cache_dir) if cache_dir else default_cache_dir() / 'engines')
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.full = _Engine(self.runtime, path, precision, cache, workspace_mb)
        depth_only = depth_only_path(path, meta)
        self.depth_only = self.full if depth_only is None else _Engine(
            self.runtime, depth_only, precision, cache, workspace_mb)
        self.stream = torch.cuda.Stream()
        self.name = f'tensorrt-{precision}'

    def _run(self, image: np.ndarray, K: np.ndarray,
             with_mask: bool) -> tuple[np.ndarray, np.ndarray | None]:
        arrays = (self.full if with_mask else self.depth_only).run(image, K, self.stream)
        return arrays[0], arrays[1] if with_mask else None

    def close(self) -> None:
        import torch

        del self.full, self.depth_only
        torch.cuda.empty_cache()
