"""Torch backend: runs the checkpoint's DepthNet directly (CPU or CUDA, optional fp16)."""
from __future__ import annotations

import numpy as np
import torch

from svde_ros.inference.backend import Backend, BackendError
from svde_ros.model.checkpoint import load_depth_net
from svde_ros.model.inference_model import DepthInference
from svde_ros.spimo import SpimoConfig


class TorchBackend(Backend):
    """Modules `model(image, K) -> (depth[, dispersion])` on a torch device.

    `model` is the full graph; `depth_model` (default: `model`) the depth-only one, run for
    frames without a mask. Both wrap the same network, so the weights are held once.
    """

    name = 'torch'

    def __init__(self, model: torch.nn.Module, height: int, width: int, device: str = 'cpu',
                 fp16: bool = False, spimo: SpimoConfig | None = None,
                 depth_model: torch.nn.Module | None = None) -> None:
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise BackendError('torch backend: CUDA asked for, but torch sees no CUDA device')
        if fp16 and not device.startswith('cuda'):
            raise BackendError('torch backend: fp16 needs a CUDA device')
        super().__init__(height, width, spimo)
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.model = model.eval().to(self.device, self.dtype)
        self.depth_model = self.model if depth_model is None else \
            depth_model.eval().to(self.device, self.dtype)
        self.name = f'torch-{self.device.type}{"-fp16" if fp16 else ""}'

    @classmethod
    def from_checkpoint(cls, checkpoint: str, device: str = 'cpu', fp16: bool = False,
                        spimo: bool | SpimoConfig = False,
                        input_size: tuple[int, int] | None = None) -> TorchBackend:
        """The checkpoint's DepthNet, at `input_size` (height, width) or as trained.

        spimo: True for the checkpoint's own SPIMO settings, a SpimoConfig to override them,
        False for depth only.
        """
        net, spec = load_depth_net(checkpoint)
        height, width = input_size or (spec.input_height, spec.input_width)
        settings = spec.spimo_config if spimo is True else (spimo or None)
        depth_only = DepthInference(net, spec, None)
        full = DepthInference(net, spec, settings) if settings is not None else depth_only
        return cls(full, height, width, device, fp16, settings, depth_only)

    @classmethod
    def from_module(cls, model: torch.nn.Module, height: int, width: int, device: str = 'cpu',
                    fp16: bool = False) -> TorchBackend:
        """Any module `model(image, K) -> (depth[, dispersion])`, e.g. a reference network.

        Its SPIMO settings are the module's `spimo` attribute (None: depth only).
        """
        return cls(model, height, width, device, fp16, getattr(model, 'spimo', None))

    @torch.inference_mode()
    def _run(self, image: np.ndarray, K: np.ndarray,
             with_mask: bool) -> tuple[np.ndarray, np.ndarray | None]:
        model = self.model if with_mask else self.depth_model
        outputs = model(torch.from_numpy(image).to(self.device, self.dtype),
                        torch.from_numpy(K).to(self.device, torch.float32))
        depth = outputs[0].float().cpu().numpy()
        return depth, outputs[1].float().cpu().numpy() if with_mask else None

    def close(self) -> None:
        del self.model, self.depth_model
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()
