"""onnxruntime backend: the exported graph on the CPU execution provider (CUDA EP when present)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from svde_ros.inference.backend import Backend, BackendError
from svde_ros.spimo import SpimoConfig


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


def depth_only_path(onnx_path: Path, meta: dict) -> Path | None:
    """The depth-only graph exported beside a SPIMO model, if its sidecar names one."""
    name = meta.get('depth_only_model')
    return onnx_path.with_name(name) if name else None


class OnnxBackend(Backend):
    """InferenceSessions over the exported model and, beside a SPIMO model, its depth-only graph.

    A SPIMO export made before depth-only graphs existed has none: frames without a mask then
    run the full graph and drop the dispersion (correct, but without the saving).
    """

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
        spimo = SpimoConfig(**meta['spimo']) if meta.get('spimo') else None
        super().__init__(meta['input_height'], meta['input_width'], spimo)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ['CPUExecutionProvider']
        if use_cuda and 'CUDAExecutionProvider' in ort.get_available_providers():
            providers.insert(0, 'CUDAExecutionProvider')

        def session(file: Path) -> Any:
            if not file.is_file():
                raise BackendError(f'ONNX model not found: {file} (its sidecar names it; '
                                   're-export with `svde-train export`)')
            try:
                return ort.InferenceSession(str(file), options, providers=providers)
            except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
                raise BackendError(f'cannot load ONNX model {file}: {err}') from None

        self.session = session(path)
        depth_only = depth_only_path(path, meta)
        self.depth_session = session(depth_only) if depth_only else self.session
        self.provider = self.session.get_providers()[0]
        self.name = f'onnxruntime-{"cuda" if self.provider.startswith("CUDA") else "cpu"}'

    def _run(self, image: np.ndarray, K: np.ndarray,
             with_mask: bool) -> tuple[np.ndarray, np.ndarray | None]:
        session = self.session if with_mask else self.depth_session
        # A graph that ignores K (a fixed-camera model) has no K input: feed what it declares.
        inputs = {i.name for i in session.get_inputs()}
        feed = {name: value for name, value in (('image', image), ('K', K)) if name in inputs}
        outputs = ['depth', 'dispersion'] if with_mask else ['depth']
        results = session.run(outputs, feed)
        return results[0], results[1] if with_mask else None

    def close(self) -> None:
        del self.session, self.depth_session
