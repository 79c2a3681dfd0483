"""Disparity quantization: AQUANet's per-pixel adaptive levels and the fixed baseline.

The depth network outputs N logits per pixel; disparity is the expectation of N levels under
their softmax. Both quantizers return levels as a per-pixel tensor [B,N,H,W] (the fixed one as a
broadcast view), so every consumer (warping loss, expectation, SPIMO) handles one shape.
"""
from __future__ import annotations

import math

import torch
from torch import nn

MIN_SPACING = 0.1   # fraction of the uniform level spacing every AQUANet increment keeps


def channel_softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 of [B,N,H,W], written out for export.

    torch.softmax exports as ONNX Softmax, which onnxruntime's CPU kernel runs over the last
    axis only: over channels it transposes there and back, and measured, the two level
    softmaxes took 21% of the whole network's time. Max, subtract, exp, sum and divide are
    plain broadcasts there. Training and the torch backend use torch.softmax (fused and
    identical in value).
    """
    if not torch.onnx.is_in_onnx_export():
        return torch.softmax(x, dim=1)
    e = torch.exp(x - x.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


def bounded_logits(raw: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Level logits [B,N,H,W] centred, with their L2 norm over levels capped at `max_norm`.

    Unbounded, the level logits of a fresh network grow until the softmax is one-hot: the
    forward warp rewards sharp distributions everywhere, sharp or not in the right place, and
    Adam moves the head's weights by about lr per step whatever the gradient. A one-hot softmax
    passes no gradient to the other levels, so a pixel can no longer move, and the map freezes
    flat (docs/results/training_stability.md, the collapse matrix). Capping the norm bounds how
    peaked a pixel can
    be (a logit spread of about max_norm: at most e^m / (e^m + N - 1) on one level) while the
    shape of the distribution keeps its full gradient. 0 turns the cap off (model files
    trained before it existed).
    """
    if max_norm <= 0:
        return raw
    centred = raw.float() - raw.float().mean(dim=1, keepdim=True)
    norm = torch.sqrt((centred * centred).sum(dim=1, keepdim=True) + 1e-12)
    return centred * (max_norm / norm.clamp(min=max_norm))


class FixedLevels(nn.Module):
    """Exponentially spaced levels in [disp_min, disp_max], identical for every pixel."""

    levels: torch.Tensor

    def __init__(self, num_levels: int, disp_min: float, disp_max: float) -> None:
        super().__init__()
        steps = torch.linspace(0.0, 1.0, num_levels)
        levels = torch.exp(math.log(disp_min) + steps * (math.log(disp_max) - math.log(disp_min)))
        self.register_buffer('levels', levels.reshape(1, num_levels, 1, 1), persistent=False)
        self.num_inputs = 0

    def forward(self, features: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Levels [B,N,H,W] (a view; `features` only supplies B, device and dtype)."""
        B = features.shape[0]
        return self.levels.to(features.dtype).expand(B, -1, height, width)


class AquaNetHead(nn.Module):
    """AQUANet: a light head predicting a monotone quantization curve per pixel.

    N+1 positive increments (softmax) are accumulated; the first N partial sums place the levels
    strictly inside (0, 1), mapped to [log disp_min, log disp_max]. Each increment keeps a floor
    of MIN_SPACING of the uniform spacing, so saturated logits cannot merge levels: the curve is
    strictly increasing whatever the head outputs. With zero logits the levels start evenly
    spaced in log disparity, like the fixed baseline. `logit_norm` caps the increments' logits
    as bounded_logits does the level logits: unbounded, they too saturated, squeezing every
    level to the far end of the range (a flat map however the level softmax looked).
    """

    def __init__(self, in_channels: int, num_levels: int, disp_min: float,
                 disp_max: float, logit_norm: float = 0.0) -> None:
        super().__init__()
        self.logit_norm = logit_norm
        self.conv = nn.Conv2d(in_channels, num_levels + 1, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        self.num_levels = num_levels
        self.log_min = math.log(disp_min)
        self.log_span = math.log(disp_max) - math.log(disp_min)

    def forward(self, features: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Per-pixel levels [B,N,H,W] (disparity) from decoder features at H x W."""
        floor = MIN_SPACING / (self.num_levels + 1)
        logits = bounded_logits(self.conv(features).float(), self.logit_norm)
        increments = floor + (1.0 - MIN_SPACING) * channel_softmax(logits)
        position = torch.cumsum(increments, dim=1)[:, :self.num_levels]
        return torch.exp(self.log_min + self.log_span * position)


class SigmoidDisparity(nn.Module):
    """Monodepth2's head: one disparity per pixel, disp_min + (disp_max - disp_min) * sigmoid.

    It is the baseline the paper's levels are measured against. It returns a single level per
    pixel ([B,1,H,W]); DepthNet pairs it with a zero logit, so the softmax over one level is 1,
    the expected disparity is that level, and every consumer of levels (warping, SPIMO, export)
    takes it unchanged.
    """

    def __init__(self, in_channels: int, disp_min: float, disp_max: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 1, 3, padding=1)
        self.disp_min, self.disp_span = disp_min, disp_max - disp_min

    def forward(self, features: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Disparity [B,1,H,W] from decoder features at H x W."""
        return self.disp_min + self.disp_span * torch.sigmoid(self.conv(features).float())


def expected_disparity(logits: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Disparity [B,1,H,W] = sum_i softmax(logits)_i * levels_i."""
    probs = channel_softmax(logits.float())
    return (probs * levels).sum(dim=1, keepdim=True)


def normalized_log_disparity(levels: torch.Tensor, disp_min: float,
                             disp_max: float) -> torch.Tensor:
    """Map disparity levels to [0, 1] in log space (0 = far, 1 = near)."""
    return (torch.log(levels) - math.log(disp_min)) / (math.log(disp_max) - math.log(disp_min))
