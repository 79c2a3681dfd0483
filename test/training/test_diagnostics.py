"""Collapse statistics and verdicts: flat maps, saturated levels, AbsRel at the constant."""
import math

import pytest
import torch

from svde_ros.geometry import pose_to_matrix
from svde_ros.model.depth_net import DepthPrediction
from svde_ros.model.quantization import FixedLevels, bounded_logits
from svde_training.diagnostics import FLAT_LOG_STD, collapse_reason, step_stats

DISP = (0.01, 10.0)


def _prediction(logits: torch.Tensor) -> DepthPrediction:
    levels = FixedLevels(logits.shape[1], *DISP)(logits, *logits.shape[-2:])
    return DepthPrediction([logits], [levels], tuple(logits.shape[-2:]))


def _pose(t: float) -> list[torch.Tensor]:
    return [pose_to_matrix(torch.zeros(2, 3), torch.tensor([[0.0, 0.0, t]] * 2))]


def test_a_uniform_flat_prediction_reads_as_flat_and_unsaturated():
    stats = step_stats(_prediction(torch.zeros(2, 9, 8, 8)), _pose(0.1), *DISP)
    assert stats['log_disp_std'] < 1e-6 and stats['entropy'] == pytest.approx(1.0)
    assert stats['saturated'] == 0 and stats['trans'] == pytest.approx(0.1)
    assert stats['rot_deg'] < 1e-3   # numerically 0 for an identity rotation
    assert stats['level_span'] == pytest.approx(1.0)    # fixed levels span the whole range


def test_one_hot_far_levels_read_as_saturated_at_the_far_end():
    logits = torch.full((2, 9, 8, 8), -50.0)
    logits[:, 0] = 50.0                              # all mass on the farthest level
    stats = step_stats(_prediction(logits), _pose(0.0), *DISP)
    assert stats['saturated'] == 1.0 and stats['entropy'] < 1e-3
    assert stats['disp_pos'] == pytest.approx(0.0, abs=1e-4)
    assert stats['logit_range'] == pytest.approx(100.0)


def test_a_varied_map_is_not_flat():
    logits = torch.zeros(2, 9, 8, 8)
    for row in range(8):
        logits[:, row, row] = 10.0                   # nearer level per row: a ground plane
    stats = step_stats(_prediction(logits), _pose(0.1), *DISP)
    assert stats['log_disp_std'] > 10 * FLAT_LOG_STD


def test_collapse_verdicts():
    assert collapse_reason({'log_disp_std': 0.01, 'saturated': 0.9, 'trans': 1e-3}).startswith(
        'flat depth map')
    assert 'no better than a constant' in collapse_reason(
        {'log_disp_std': 0.5, 'eval_abs_rel': 0.46, 'const_abs_rel': 0.45})
    assert collapse_reason({'log_disp_std': 0.5, 'eval_abs_rel': 0.30,
                            'const_abs_rel': 0.45}) is None
    assert collapse_reason({'loss': 0.1}) is None          # nothing to judge by


def test_bounded_logits_cap_the_spread_and_keep_the_shape_learnable():
    raw = torch.randn(2, 33, 4, 4) * 40
    raw.requires_grad_(True)
    capped = bounded_logits(raw, 8.0)
    norm = capped.norm(dim=1)
    assert norm.max() <= 8.0 + 1e-4
    peak = torch.softmax(capped, 1).amax(1).max()
    assert peak <= math.exp(8) / (math.exp(8) + 32) + 1e-6
    # The most likely level stays the most likely one; small logits pass unchanged (centred).
    assert torch.equal(capped.argmax(1), raw.argmax(1))
    small = torch.randn(1, 33, 2, 2) * 0.1
    assert torch.allclose(bounded_logits(small, 8.0), small - small.mean(1, keepdim=True))
    # A capped pixel still gets a gradient that changes which level wins.
    target = torch.zeros(2, 33, 4, 4)
    target[:, 5] = 1
    (torch.softmax(capped, 1) * target).sum().backward()
    assert raw.grad[:, 5].abs().min() > 0
    assert torch.equal(bounded_logits(raw.detach(), 0.0), raw.detach())
