"""Torch backend: runs the checkpoint's DepthNet directly (CPU or CUDA, optional fp16)."""
from __future__ import annotations

import numpy as np
import torch

from svde_ros.inference.backend import Backend, BackendError
from svde_ros.model.checkpoint import load_depth_net
from svde_ros.model.inference_model import DepthInference
from svde_ros.spimo import SpimoConfig


class TorchBackend(Backend):
    """A module `model(image, K) -> (depth[, dispersion])` on a torch device."""

    name = 'torch'

    def __init__(self, model: torch.nn.Module, height: int, width: int, device: str = 'cpu',
                 fp16: bool = False, has_spimo: bool = False) -> None:
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise BackendError('torch backend: CUDA asked for, but torch sees no CUDA device')
        if fp16 and not device.startswith('cuda'):
            raise BackendError('torch backend: fp16 needs a CUDA device')
        super().__init__(height, width, has_spimo)
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.model = model.eval().to(self.device, self.dtype)
        self.name = f'torch-{self.device.type}{"-fp16" if fp16 else ""}'

    @classmethod
    def from_checkpoint(cls, checkpoint: str, device: str = 'cpu', fp16: bool = False,
                        spimo: SpimoConfig | None = None,
                        input_size: tuple[int, int] | None = None) -> TorchBackend:
        """The checkpoint's DepthNet, at `input_size` (height, width) or as trained."""
        net, spec = load_depth_net(checkpoint)
        height, width = input_size or (spec.input_height, spec.input_width)
        return cls(DepthInference(net, spec, spimo), height, width, device, fp16,
                   spimo is not None)

    @classmethod
    def from_module(cls, model: torch.nn.Module, height: int, width: int, device: str = 'cpu',
                    fp16: bool = False) -> TorchBackend:
        """Any module with the inference signature (used by benchmarks)."""
        return cls(model, height, width, device, fp16,
                   'dispersion' in getattr(model, 'output_names', []))

    @torch.inference_mode()
    def _run(self, image: np.ndarray,
             K: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self.model(torch.from_numpy(image).to(self.device, self.dtype),
                             torch.from_numpy(K).to(self.device, torch.float32))
        arrays = [o.float().cpu().numpy() for o in outputs]
        return arrays[0], arrays[1] if len(arrays) > 1 else None

    def close(self) -> None:
        del self.model
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()
