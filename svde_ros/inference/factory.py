"""Create a backend by name; `auto` picks tensorrt > torch-cuda > onnxruntime-cpu."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from svde_ros.inference.backend import Backend, BackendError
from svde_ros.spimo import SpimoConfig

LOG = logging.getLogger(__name__)
BACKENDS = ('auto', 'tensorrt', 'torch', 'onnxruntime')


def gpu_present() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()


def tensorrt_present() -> bool:
    """Whether the TensorRT Python package imports."""
    from svde_ros.inference import tensorrt_backend

    return tensorrt_backend.trt is not None


def create_backend(kind: str, checkpoint: str = '', onnx: str = '', precision: str = 'fp16',
                   spimo: bool | SpimoConfig = False, cache_dir: str = '', threads: int = 0,
                   input_size: tuple[int, int] | None = None) -> tuple[Backend, str]:
    """Build the backend `kind` from a checkpoint (torch) or an exported model (onnx, tensorrt).

    `spimo`: True for masks with the model file's own SPIMO settings, a SpimoConfig to
    override them (torch; an exported graph has its settings built in), False for depth only.
    `input_size` (height, width) overrides the trained size for torch; exported models have
    theirs fixed.

    Without a GPU, `auto` runs a checkpoint in onnxruntime: the checkpoint is exported once
    into `cache_dir` (default: ~/.cache/svde_ros) and later starts reuse the file. `threads`
    (0: all cores but one, so inference does not fight the ROS executor) sets the CPU threads
    of onnxruntime and torch.

    Returns:
        The backend and a sentence saying what was picked and why (for the log).
    """
    if kind not in BACKENDS:
        raise BackendError(f'unknown backend {kind!r}; choose one of {", ".join(BACKENDS)}')
    if kind == 'auto':
        kind, reason = pick_backend(checkpoint, onnx, gpu_present(), tensorrt_present())
    else:
        reason = 'asked for'
    if kind == 'tensorrt':
        from svde_ros.inference.tensorrt_backend import TensorRTBackend

        backend: Backend = TensorRTBackend(_need(onnx, 'onnx', kind), precision,
                                           cache_dir or None)
    elif kind == 'onnxruntime':
        from svde_ros.inference.onnx_backend import OnnxBackend

        if not onnx and checkpoint:
            from svde_ros.inference.export import cached_onnx, default_cache_dir

            path, exported = cached_onnx(checkpoint, Path(cache_dir) if cache_dir else
                                         default_cache_dir(), spimo, input_size)
            onnx = str(path)
            reason += f'; {"exported the checkpoint once to" if exported else "cached export"}' \
                      f' {onnx}'
        backend = OnnxBackend(_need(onnx, 'onnx', kind), use_cuda=gpu_present(),
                              threads=threads or cpu_threads())
    else:
        import torch

        from svde_ros.inference.torch_backend import TorchBackend

        cuda = gpu_present()
        if not cuda:
            torch.set_num_threads(threads or cpu_threads())
        backend = TorchBackend.from_checkpoint(_need(checkpoint, 'checkpoint', kind),
                                               'cuda' if cuda else 'cpu',
                                               fp16=cuda and precision == 'fp16', spimo=spimo,
                                               input_size=input_size)
    if spimo and not backend.has_spimo:
        raise BackendError(f'{backend.name}: the exported model has no dispersion output; '
                           're-export with `svde-train export --spimo` or turn SPIMO off')
    return backend, f'{backend.name} ({reason})'


def cpu_threads() -> int:
    """All cores but one: the ROS executor and the camera's callbacks keep one."""
    return max(1, (os.cpu_count() or 2) - 1)


def _need(path: str, what: str, kind: str) -> str:
    if not path:
        raise BackendError(f'backend {kind} needs a {what} path')
    return path


def pick_backend(checkpoint: str, onnx: str, cuda: bool, tensorrt: bool) -> tuple[str, str]:
    """What `auto` picks, and why, given the model files and what the machine has."""
    if onnx and cuda and tensorrt:
        return 'tensorrt', 'auto: TensorRT and a CUDA GPU are present'
    if checkpoint and cuda:
        return 'torch', 'auto: CUDA GPU present, TensorRT ' + (
            'needs an exported model' if tensorrt else 'not installed')
    if onnx or checkpoint:
        return 'onnxruntime', 'auto: no CUDA GPU; onnxruntime is the fastest CPU path'
    raise BackendError('auto: give a checkpoint or an exported ONNX model')
