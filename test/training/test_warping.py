import numpy as np
import pytest
import torch

from svde_ros.geometry import Intrinsics, pose_to_matrix
from svde_ros.model.quantization import normalized_log_disparity
from svde_training.data.augment import CropParams, crop_image, crop_intrinsics
from svde_training.data.synthetic import SyntheticClip
from svde_training.warping import backward_warp, forward_warp

DISP_RANGE = (0.01, 10.0)


def _tensor(image: np.ndarray) -> torch.Tensor:
    if image.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(image)).float()[None, None]
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255


def _warp_with_depth(image, depth, K, T, sharpness=20.0):
    """Forward warp with a one-hot prediction at the given depth."""
    disp = 1.0 / depth
    unit = normalized_log_disparity(disp, *DISP_RANGE)
    return forward_warp(image, torch.ones_like(disp), disp, unit, K, T, sharpness)


@pytest.fixture(scope='module')
def clip():
    return SyntheticClip(seed=3, num_frames=12, height=96, width=256, num_movers=2)


def _relative(clip, src, dst):
    return torch.from_numpy(np.linalg.inv(clip.pose(dst)) @ clip.pose(src)).float()[None]


def test_identity_pose_returns_the_image(clip):
    image, depth = _tensor(clip.image(4)), _tensor(clip.depth(4))
    K = torch.from_numpy(clip.intrinsics(4).matrix()).float()[None]
    synth = _warp_with_depth(image, depth, K, torch.eye(4)[None])
    assert synth.landed.all()
    # float32 round-off moves far pixels (100 m and beyond) by a hair: a few pixels of
    # high-contrast texture near the horizon differ slightly, nothing else.
    error = (synth.image - image).abs()
    assert error.max() < 1e-2 and error.mean() < 1e-5


def test_gt_depth_and_pose_reproduce_the_neighbour_and_mark_holes(clip):
    t, n = 4, 5
    K = torch.from_numpy(clip.intrinsics(t).matrix()).float()[None]
    synth = _warp_with_depth(_tensor(clip.image(t)), _tensor(clip.depth(t)), K,
                             _relative(clip, t, n))
    target = _tensor(clip.image(n))
    static = ~torch.from_numpy(clip.moving_mask(n) | clip.moving_mask(t))[None, None]
    valid = synth.landed & static
    warped_error = (synth.image - target).abs().mean(1, keepdim=True)[valid].mean()
    unwarped_error = (_tensor(clip.image(t)) - target).abs().mean()
    assert warped_error < 0.03
    assert warped_error < 0.4 * unwarped_error
    # The camera moves forward: the image border of the neighbour is seen by nobody.
    holes = ~synth.landed
    assert holes.any()
    assert (synth.image * holes).abs().max() == 0


def test_translation_moves_a_pixel_by_f_t_over_z():
    H, W, f, z, tx = 32, 64, 100.0, 5.0, 0.2
    image = torch.zeros(1, 3, H, W)
    image[0, :, 16, 20] = 1.0
    K = torch.tensor([[[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]]])
    T = pose_to_matrix(torch.zeros(1, 3), torch.tensor([[tx, 0.0, 0.0]]))
    synth = _warp_with_depth(image, torch.full((1, 1, H, W), z), K, T)
    row = synth.image[0, 0, 16]
    assert int(row.argmax()) == 20 + int(f * tx / z)


def test_near_surface_occludes_far_one():
    H, W, f = 8, 32, 50.0
    K = torch.tensor([[[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]]])
    image = torch.zeros(1, 3, H, W)
    image[..., 10] = 1.0          # a near white column (2 m)
    depth = torch.full((1, 1, H, W), 50.0)
    depth[..., 10] = 2.0
    # Shift so that the near column lands exactly where far column 20 lands.
    tx = (20 - 10) / (f * (1 / 2.0 - 1 / 50.0))
    T = pose_to_matrix(torch.zeros(1, 3), torch.tensor([[tx, 0.0, 0.0]]))
    synth = _warp_with_depth(image, depth, K, T)
    landing = 20 + int(round(f * tx / 50.0))
    assert synth.image[0, 0, 4, landing] > 0.95


def test_backward_warp_reconstructs_target(clip):
    t, n = 4, 5
    K = torch.from_numpy(clip.intrinsics(t).matrix()).float()[None]
    synth = backward_warp(_tensor(clip.image(n)), 1.0 / _tensor(clip.depth(t)), K,
                          _relative(clip, t, n))
    static = ~torch.from_numpy(clip.moving_mask(t) | clip.moving_mask(n))[None, None]
    error = (synth.image - _tensor(clip.image(t))).abs().mean(1, keepdim=True)
    assert error[synth.landed & static].mean() < 0.03


def test_one_over_s_rule_keeps_a_resized_crop_consistent(clip):
    """Depth / s with translation / s reproduces the neighbour crop at scale s."""
    t, n = 6, 7
    K = clip.intrinsics(t)
    params = CropParams(320, 120, 40, 20, 192, 64, False, 256)   # s = 1.25
    s = params.scale
    crops = [_tensor(crop_image(clip.image(i), params)) for i in (t, n)]
    depth = _tensor(crop_image(clip.depth(t), params)) / s
    K_crop = torch.from_numpy(crop_intrinsics(K, params).matrix()).float()[None]
    T = _relative(clip, t, n)
    T[:, :3, 3] /= s
    synth = _warp_with_depth(crops[0], depth, K_crop, T)
    moving = crop_image(clip.moving_mask(t).astype(np.uint8) | clip.moving_mask(n), params)
    valid = synth.landed & ~torch.from_numpy(moving.astype(bool))[None, None]
    error = (synth.image - crops[1]).abs().mean(1, keepdim=True)[valid].mean()
    assert error < 0.04


def test_intrinsics_helpers_used_above_are_exact():
    K = Intrinsics(100.0, 100.0, 127.5, 47.5, 256, 96)
    params = CropParams(320, 120, 40, 20, 192, 64, True, 256)
    crop = crop_intrinsics(K, params)
    X = np.array([1.0, 0.5, 4.0])
    p = np.array([K.fx * X[0] / X[2] + K.cx, K.fy * X[1] / X[2] + K.cy])
    full = (p + 0.5) * 1.25 - 0.5
    expected = np.array([320 - 1 - full[0] - 40, full[1] - 20])
    Xm = X * [-1, 1, 1]
    got = np.array([crop.fx * Xm[0] / Xm[2] + crop.cx, crop.fy * Xm[1] / Xm[2] + crop.cy])
    assert np.allclose(got, expected)
