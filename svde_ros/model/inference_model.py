"""The inference graph: image + K in, metric depth (+ SPIMO dispersion) out.

The torch backend runs this module and the ONNX export traces it, so pre-processing (positional
and camera channels from the input size and K) and post-processing (1 / disparity times the
checkpoint's metric scale) exist once.
"""
from __future__ import annotations

import torch
from torch import nn

from svde_ros.geometry import positional_grid_torch
from svde_ros.model.checkpoint import InferenceSpec
from svde_ros.model.depth_net import DepthNet
from svde_ros.spimo import SpimoConfig, spimo_dispersion


class DepthInference(nn.Module):
    """DepthNet wrapped for deployment.

    forward(image [B,3,H,W] RGB in [0,1] at the network's input size, K [B,3,3] pixels at H x W)
    returns (depth,) or, with SPIMO, (depth, dispersion): depth [B,1,H,W] in metres (the
    network's gauge times depth_scale when no metric scale is known), dispersion [B,1,H,W].
    """

    def __init__(self, net: DepthNet, spec: InferenceSpec,
                 spimo: SpimoConfig | None = None) -> None:
        super().__init__()
        self.net = net.eval()
        self.spec = spec
        self.spimo = spimo

    def camera_channels(self, K: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(fx/W, fy/H, cx/W, cy/H) from K at the input size: those of the original frame."""
        return torch.stack([K[:, 0, 0] / width, K[:, 1, 1] / height, (K[:, 0, 2] + 0.5) / width,
                            (K[:, 1, 2] + 0.5) / height], dim=1).to(K.dtype)

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, in order (also the ONNX output names)."""
        return ['depth'] if self.spimo is None else ['depth', 'dispersion']

    def forward(self, image: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, ...]:
        B, _, H, W = image.shape
        cam = self.camera_channels(K.to(image.dtype), H, W)
        pos = positional_grid_torch(B, H, W, image.device, image.dtype)
        depth = self.spec.depth_scale / self.net.predict_disparity(image, pos, cam)
        if self.spimo is None:
            return (depth,)
        return depth, spimo_dispersion(self.net, image, cam, self.spimo)
