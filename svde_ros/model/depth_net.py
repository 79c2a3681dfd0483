"""DepthNet: encoder-decoder fed with image, positional information and camera channels.

Positional (u, v) and camera (fx/W0, fy/H0) channels are lifted by a 1x1 conv at every encoder
stage and concatenated to that stage's input (arXiv 2205.08851, Sec. 3.1), so a crop of an
enlarged frame knows both where it sits and how wide the camera sees. The encoder is the paper's
trunk or an ImageNet-pretrained one (encoders.py); the decoder follows Monodepth2's
skip-connection layout, is sized from the encoder's channels, and emits, per scale, N logits
plus the quantization levels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from svde_ros.geometry import ray_positions
from svde_ros.model.config import ModelConfig
from svde_ros.model.encoders import Encoder, PaperEncoder, build_encoder, he_init
from svde_ros.model.quantization import (
    AquaNetHead,
    FixedLevels,
    SigmoidDisparity,
    bounded_logits,
    expected_disparity,
)

DECODER_CHANNELS = (16, 32, 64, 128, 256)    # Monodepth2 decoder widths at 1/1 ... 1/16
OUTPUT_STRIDE = 32                           # input sides must be multiples of this


def upsample_log(disp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Disparity (or levels) [B,C,h,w] brought to `size` bilinearly in log disparity.

    Disparity spans three decades; interpolating its log keeps a near edge from bleeding far
    values.
    """
    log_disp = F.interpolate(torch.log(disp), size=size, mode='bilinear', align_corners=False)
    return torch.exp(log_disp)


@dataclass
class DepthPrediction:
    """Network outputs, finest scale first.

    logits[s]: [B,N,H/(k 2^s),W/(k 2^s)] per-level scores, k the head stride; levels[s]: same
    shape, disparity of each level. size: the input's (H, W).
    """

    logits: list[torch.Tensor]
    levels: list[torch.Tensor]
    size: tuple[int, int]

    def disp(self, scale: int = 0) -> torch.Tensor:
        """Expected disparity [B,1,h,w] at `scale` (the head's own resolution)."""
        return expected_disparity(self.logits[scale], self.levels[scale])

    def full_disp(self) -> torch.Tensor:
        """Expected disparity [B,1,H,W] at the input size (a coarser head: upsample_log)."""
        disp = self.disp(0)
        if tuple(disp.shape[-2:]) == self.size:
            return disp
        return upsample_log(disp, self.size)

    def probs(self, scale: int = 0) -> torch.Tensor:
        """Softmax over levels [B,N,h,w] at `scale`."""
        return torch.softmax(self.logits[scale].float(), dim=1)


def _scaled(channels: tuple[int, ...], width: float) -> list[int]:
    return [max(8, int(round(c * width))) for c in channels]


class ConvElu(nn.Module):
    """3x3 conv + ELU, the decoder's unit."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.conv(x), inplace=True)


class DepthNet(nn.Module):
    """Image + positional + camera channels -> per-scale level logits and levels."""

    image_mean: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dec = _scaled(DECODER_CHANNELS, config.width)
        pc = config.pos_channels
        self.register_buffer('image_mean', torch.tensor(config.image_mean).reshape(1, 3, 1, 1),
                             persistent=False)
        # One lift of (u, v, fx/W0, fy/H0) per encoder stage input (none without them); with
        # `positions: rays`, (u, v) are the pixel's viewing-ray slopes instead.
        self.pos_lifts = nn.ModuleList(nn.Conv2d(4, pc, 1) for _ in range(5 if pc else 0))
        self.encoder: Encoder = build_encoder(config.encoder, config.width, pc)
        enc = list(self.encoder.channels)
        self.upconv_a = nn.ModuleList()
        self.upconv_b = nn.ModuleList()
        first = config.head_level          # decoder levels below the finest head are not built
        for i in range(4, first - 1, -1):
            in_a = enc[4] if i == 4 else dec[i + 1]
            self.upconv_a.append(ConvElu(in_a, dec[i]))
            in_b = dec[i] + (enc[i - 1] if i > 0 else 0)
            self.upconv_b.append(ConvElu(in_b, dec[i]))
        N = config.num_levels
        disp_min, disp_max = config.disp_range
        head_channels = [dec[first + s] for s in range(config.num_scales)]
        # A sigmoid head is one level per pixel and has no logits; level heads have N of each.
        self.logit_heads = nn.ModuleList(
            nn.Conv2d(c, N, 3, padding=1) for c in head_channels
            if config.quantization != 'sigmoid')
        if config.quantization == 'sigmoid':
            self.quantizers = nn.ModuleList(SigmoidDisparity(c, disp_min, disp_max)
                                            for c in head_channels)
        elif config.quantization == 'aquanet':
            self.quantizers = nn.ModuleList(AquaNetHead(c, N, disp_min, disp_max,
                                                        config.logit_norm)
                                            for c in head_channels)
        else:
            fixed = FixedLevels(N, disp_min, disp_max)
            self.quantizers = nn.ModuleList(fixed for _ in range(config.num_scales))
        self._init_weights()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # Model files from before encoders were pluggable hold the paper trunk at the top.
        if isinstance(self.encoder, PaperEncoder):
            for key in [k for k in state_dict if k.startswith((f'{prefix}stem.',
                                                               f'{prefix}stages.'))]:
                state_dict[f'{prefix}encoder.{key[len(prefix):]}'] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _init_weights(self) -> None:
        """He init for the encoder (as torchvision's ResNet); the decoder keeps PyTorch's.

        With He init in the decoder too, a fresh sigmoid head already put pixels at both ends
        of the range (outputs 0.00-1.00, std 0.29), where the sigmoid passes no gradient, and
        training drove the whole map to the near end within 100 steps (docs/results/README.md).
        PyTorch's default, as Monodepth2 has it, starts every pixel near mid-range. Every head
        gets the same decoder init, so a head's ablation changes the head alone.
        """
        he_init(self.encoder, self.pos_lifts)

    def forward(self, image: torch.Tensor, pos: torch.Tensor, cam: torch.Tensor,
                num_outputs: int | None = None) -> DepthPrediction:
        """Predict levels and logits.

        Args:
            image: [B,3,H,W] RGB in [0, 1]; H and W multiples of OUTPUT_STRIDE.
            pos: [B,2,H,W] positional channels (u, v) in [-1, 1] of the full resized frame.
            cam: [B,4] camera channels (fx/W0, fy/H0, cx/W0, cy/H0); with
                `positions: pixels` only the first two are read ([B,2] will do).
            num_outputs: how many scales to emit, finest first (default: all `num_scales`;
                inference needs only 1, which skips the coarser heads).

        Returns:
            DepthPrediction with `num_outputs` scales, finest first.
        """
        outputs = min(num_outputs or self.config.num_scales, self.config.num_scales)
        B, _, H, W = image.shape
        if H % OUTPUT_STRIDE or W % OUTPUT_STRIDE:
            raise ValueError(f'DepthNet input {W}x{H} must have sides divisible by '
                             f'{OUTPUT_STRIDE}')
        if self.config.positions == 'rays':
            pos = ray_positions(pos, cam)
        fov = cam[:, :2].reshape(B, 2, 1, 1).expand(B, 2, H, W).to(pos.dtype)
        geo = torch.cat([pos, fov], dim=1)

        def lifted(stage: int, x: torch.Tensor) -> torch.Tensor:
            if not self.pos_lifts:
                return x
            size = (int(x.shape[-2]), int(x.shape[-1]))
            g = F.adaptive_avg_pool2d(geo, size) if size != tuple(geo.shape[-2:]) else geo
            return torch.cat([x, self.pos_lifts[stage](g)], dim=1)

        image = image - self.image_mean
        if not self.config.image_input:
            image = torch.zeros_like(image)
        features = self.encoder(image, lifted)

        logits: list[torch.Tensor] = []
        levels: list[torch.Tensor] = []
        first = self.config.head_level
        x = features[4]
        for j, i in enumerate(range(4, first - 1, -1)):
            x = F.interpolate(self.upconv_a[j](x), scale_factor=2.0, mode='nearest')
            if i > 0:
                x = torch.cat([x, features[i - 1]], dim=1)
            x = self.upconv_b[j](x)
            if i - first < outputs:
                h, w = x.shape[-2:]
                levels.append(self.quantizers[i - first](x, h, w))
                if self.logit_heads:
                    logits.append(bounded_logits(self.logit_heads[i - first](x),
                                                 self.config.logit_norm))
                else:     # one level per pixel: its softmax is 1 whatever the logit
                    logits.append(torch.zeros_like(levels[-1]))
        return DepthPrediction(logits=logits[::-1], levels=levels[::-1], size=(H, W))

    def predict_disparity(self, image: torch.Tensor, pos: torch.Tensor,
                          cam: torch.Tensor) -> torch.Tensor:
        """Expected disparity [B,1,H,W] at the input size: the one full-frame predictor.

        Inference, evaluation, SPIMO, boosting labels and scale calibration all call this, so
        they run only the finest head and share its upsampling. Arguments as in `forward`.
        """
        return self(image, pos, cam, num_outputs=1).full_disp()
