import numpy as np
import pytest
import torch

from svde_training.losses import (
    dssim,
    edge_aware_smoothness,
    erode,
    masked_mean,
    photometric_error,
)
from svde_training.metrics import depth_errors, evaluate_depth, image_share


def test_masked_mean_divides_by_valid_count():
    values = torch.tensor([[[[1.0, 3.0], [100.0, 5.0]]]])
    mask = torch.tensor([[[[True, True], [False, True]]]])
    assert masked_mean(values, mask).item() == pytest.approx(3.0)


def test_photometric_error_zero_for_identical_and_positive_otherwise():
    x = torch.rand(1, 3, 16, 16)
    assert photometric_error(x, x, 0.85).abs().max() < 1e-5
    assert photometric_error(x, 1 - x, 0.85).mean() > 0.1
    assert dssim(x, x).max() < 1e-5


def test_smoothness_zero_for_constant_disparity():
    assert edge_aware_smoothness(torch.ones(1, 1, 8, 8), torch.rand(1, 3, 8, 8)) == 0


def test_erode_removes_pixels_next_to_holes():
    mask = torch.ones(1, 1, 5, 5, dtype=torch.bool)
    mask[0, 0, 2, 2] = False
    eroded = erode(mask)
    assert eroded[0, 0, 1:4, 1:4].sum() == 0
    assert eroded.sum() == 25 - 9


def test_eigen_metrics_hand_computed():
    gt = np.array([10.0, 20.0])
    pred = np.array([12.0, 15.0])
    m = depth_errors(gt, pred)
    assert m['abs_rel'] == pytest.approx((0.2 + 0.25) / 2)
    assert m['sq_rel'] == pytest.approx((4 / 10 + 25 / 20) / 2)
    assert m['rmse'] == pytest.approx(np.sqrt((4 + 25) / 2))
    log_errors = np.log(10 / 12) ** 2 + np.log(20 / 15) ** 2
    assert m['rmse_log'] == pytest.approx(np.sqrt(log_errors / 2))
    assert m['a1'] == pytest.approx(0.5)   # ratios 1.2 and 1.333
    assert m['a2'] == pytest.approx(1.0)


def test_median_scaling_and_cap():
    gt = np.array([[5.0, 10.0], [0.0, 100.0]])     # 0 = unknown, 100 beyond the 80 m cap
    pred = gt / 2
    metrics, scale = evaluate_depth(pred, gt)
    assert scale == pytest.approx(2.0)
    assert metrics['abs_rel'] == pytest.approx(0.0)
    unscaled, one = evaluate_depth(pred, gt, median_scaling=False)
    assert one == 1.0 and unscaled['abs_rel'] == pytest.approx(0.5)
    assert evaluate_depth(pred, np.zeros_like(gt)) is None
    with pytest.raises(ValueError, match='differ in size'):
        evaluate_depth(pred[:1], gt)


def test_image_share_tells_position_from_image():
    rng = np.random.default_rng(0)
    rows = np.linspace(5.0, 40.0, 30)[:, None] * np.ones((30, 50))
    gt = rows * np.exp(rng.normal(0, 0.3, rows.shape))          # depth varies within rows
    position_only = image_share(rows * 2.0, gt)
    assert position_only['row_corr'] == pytest.approx(0.0, abs=1e-9)
    assert position_only['row_flat_abs_rel'] == pytest.approx(
        evaluate_depth(rows * 2.0, gt)[0]['abs_rel'])
    exact = image_share(gt * 3.0, gt)
    assert exact['row_corr'] == pytest.approx(1.0)
    assert exact['row_flat_abs_rel'] > evaluate_depth(gt * 3.0, gt)[0]['abs_rel'] + 0.1
    assert image_share(gt, np.zeros_like(gt)) is None


def test_row_prior_pools_frames_of_other_sizes_by_relative_row():
    from svde_training.config import EvalConfig
    from svde_training.data.dataset import EvalFrame
    from svde_training.evaluate import row_prior_baseline

    def frame(height: int) -> EvalFrame:
        depth = np.repeat(np.linspace(80.0, 4.0, height)[:, None], 40, axis=1)
        return EvalFrame('f', torch.zeros(3, 8, 8), torch.ones(2), torch.eye(3),
                         depth.astype(np.float32), None, [])
    # Every frame is the same scene at another resolution: the pooled prior is exact.
    prior = row_prior_baseline([frame(30), frame(60), frame(45)], EvalConfig(max_depth=100.0))
    assert prior['abs_rel'] < 0.03
