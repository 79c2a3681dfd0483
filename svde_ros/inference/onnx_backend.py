"""onnxruntime backend: the exported graph on the CPU execution provider (CUDA EP when present)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from svde_ros.inference.backend import Backend, BackendError


def read_sidecar(onnx_path: Path) -> dict:
    """The JSON written beside an exported model (input size, scale, provenance)."""
    sidecar = onnx_path.with_suffix('.json')
    if not sidecar.is_file():
        raise BackendError(f'{sidecar} missing: re-export with `svde-train export` (it writes the '
                           'model and its sidecar together)')
    try:
        return json.loads(sidecar.read_text())
    except json.JSONDecodeError as err:
        raise BackendError(f'{sidecar}: not valid JSON: {err}') from None


class OnnxBackend(Backend):
    """An InferenceSession over the exported model."""

    name = 'onnxruntime'

    def __init__(self, onnx_path: str, use_cuda: bool = False, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise BackendError('onnxruntime is not installed: pip install onnxruntime '
                               '(onnxruntime-gpu for the CUDA provider)') from err
        path = Path(onnx_path)
        if not path.is_file():
            raise BackendError(f'ONNX model not found: {path} (make one with `svde-train export '
                               '--checkpoint CKPT --out model.onnx`)')
        meta = read_sidecar(path)
        super().__init__(meta['input_height'], meta['input_width'], meta['spimo'] is not None)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ['CPUExecutionProvider']
        if use_cuda and 'CUDAExecutionProvider' in ort.get_available_providers():
            providers.insert(0, 'CUDAExecutionProvider')
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BackendError(f'cannot load ONNX model {path}: {err}') from None
        self.provider = self.session.get_providers()[0]
        self.name = f'onnxruntime-{"cuda" if self.provider.startswith("CUDA") else "cpu"}'
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.inputs = {i.name for i in self.session.get_inputs()}

    def _run(self, image: np.ndarray,
             K: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        # A graph that ignores K (a fixed-camera model) has no K input: feed what it declares.
        feed = {name: value for name, value in (('image', image), ('K', K))
                if name in self.inputs}
        results = self.session.run(self.outputs, feed)
        return results[0], results[1] if len(results) > 1 else None

    def close(self) -> None:
        del self.session
