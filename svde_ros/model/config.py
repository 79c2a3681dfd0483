"""Architecture settings of the depth network; saved in every checkpoint and read back as is."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

QuantizationKind = Literal['aquanet', 'fixed']


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild DepthNet/PoseNet and interpret their outputs.

    Attributes:
        width: channel multiplier; 1.0 is the default ~15M-parameter network, 0.5 the small
            (<4M) one for CPUs and Jetsons.
        num_levels: N, the number of discrete disparity levels per pixel.
        quantization: 'aquanet' (per-pixel adaptive levels) or 'fixed' (exponential, shared).
        min_depth, max_depth: depth range in the network's gauge; levels live in
            [1/max_depth, 1/min_depth].
        pos_channels: channels each 1x1 lift of the positional + camera inputs adds to a stage.
        image_mean: per-channel RGB mean subtracted from images in [0, 1].
        num_scales: decoder output scales (1, 1/2, ...) used by the multi-scale loss.
    """

    width: float = 1.0
    num_levels: int = 33
    quantization: QuantizationKind = 'aquanet'
    min_depth: float = 0.1
    max_depth: float = 100.0
    pos_channels: int = 16
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    num_scales: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f'model: need 0 < min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')
        if self.num_levels < 2:
            raise ValueError(f'model.num_levels must be >= 2, got {self.num_levels}')
        if not 1 <= self.num_scales <= 4:
            raise ValueError(f'model.num_scales must be in 1..4, got {self.num_scales}')
        if self.width <= 0:
            raise ValueError(f'model.width must be positive, got {self.width}')

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
        if 'image_mean' in data:
            data['image_mean'] = tuple(data['image_mean'])
        return cls(**data)
