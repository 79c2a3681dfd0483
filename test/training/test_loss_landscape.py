"""With exact poses, the photometric objective must prefer the true depth (issue: known motion).

On a static synthetic clip with exact depth and camera motion, each warping strategy's
photometric term (the one the trainer minimises, holes and auto-masking included) is compared at
the true depth and at wrong maps: half and double the depth, a flat map at the true median, and
the row prior (each row at its true median, the map a network gets from position alone). If an
objective scored one of them at or below the truth, no optimiser could learn depth from it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from svde_ros.model.quantization import FixedLevels
from svde_training.config import LossConfig
from svde_training.data.synthetic import SyntheticClip
from svde_training.losses import ScaleInputs, build_view_synthesis

DISP_RANGE = (0.01, 10.0)
NUM_LEVELS = 33
T, OFFSETS = 5, (-1, 1)


def _image(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope='module')
def scene() -> dict:
    clip = SyntheticClip(seed=5, num_frames=10, height=96, width=256, num_movers=0)
    depth = torch.from_numpy(clip.depth(T)).float()[None, None]

    def pose(src: int, dst: int) -> torch.Tensor:
        return torch.from_numpy(np.linalg.inv(clip.pose(dst)) @ clip.pose(src)).float()[None]

    return {'target': _image(clip.image(T)),
            'neighbours': [_image(clip.image(T + o)) for o in OFFSETS],
            'poses': [pose(T, T + o) for o in OFFSETS],
            'K': torch.from_numpy(clip.intrinsics(T).matrix()).float()[None],
            'depth': depth}


def _wrong_maps(depth: torch.Tensor) -> dict[str, torch.Tensor]:
    rows = depth.median(dim=3, keepdim=True).values.expand_as(depth)
    return {'half': depth * 0.5, 'double': depth * 2.0,
            'flat': torch.full_like(depth, float(depth.median())), 'row prior': rows.clone()}


def _one_level(disp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A single level per pixel at the disparity (the sigmoid head's form)."""
    return torch.ones_like(disp), disp


def _fixed_levels(disp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """33 fixed levels with a softmax peaked around the disparity, as a trained head puts it."""
    B, _, H, W = disp.shape
    levels = FixedLevels(NUM_LEVELS, *DISP_RANGE)(disp, H, W)
    spacing = (math.log(DISP_RANGE[1]) - math.log(DISP_RANGE[0])) / (NUM_LEVELS - 1)
    logits = -((torch.log(levels) - torch.log(disp)) / spacing) ** 2 * 2.0
    return torch.softmax(logits, dim=1), levels


def _objective(scene: dict, depth: torch.Tensor, warping: str, represent, auto_mask: bool,
               ) -> float:
    disp = 1.0 / depth.clamp(1.0 / DISP_RANGE[1], 1.0 / DISP_RANGE[0])
    probs, levels = represent(disp)
    synthesis = build_view_synthesis(LossConfig(warping=warping), *DISP_RANGE,
                                     auto_mask=auto_mask)
    result = synthesis(ScaleInputs(target=scene['target'], neighbours=scene['neighbours'],
                                   probs=probs, levels=levels,
                                   disp=(probs * levels).sum(1, keepdim=True), K=scene['K'],
                                   poses=scene['poses']))
    return float(result.loss)


@pytest.mark.parametrize('auto_mask', [False, True], ids=['no-mask', 'auto-mask'])
@pytest.mark.parametrize('warping,represent', [
    ('backward', _one_level), ('forward', _one_level), ('forward', _fixed_levels)],
    ids=['backward', 'forward-one-level', 'forward-33-levels'])
def test_true_depth_scores_lowest(scene, warping, represent, auto_mask):
    truth = _objective(scene, scene['depth'], warping, represent, auto_mask)
    wrong = {name: _objective(scene, d, warping, represent, auto_mask)
             for name, d in _wrong_maps(scene['depth']).items()}
    worse = {name: round(v, 4) for name, v in wrong.items() if v <= truth}
    assert not worse, f'{warping}: true depth {truth:.4f}, not above it: {worse}'
