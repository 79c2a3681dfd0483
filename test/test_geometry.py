import numpy as np
import pytest
import torch

from svde_ros.geometry import (
    Intrinsics,
    axis_angle_to_matrix,
    backproject,
    points_from_depth,
    pose_to_matrix,
    positional_grid,
    positional_grid_torch,
    project,
    ray_positions,
    resize_intrinsics_matrix,
    rotation_angle_deg,
    transform_points,
)

K0 = Intrinsics(700.0, 690.0, 600.5, 180.25, 1240, 376)


def _project(K: Intrinsics, X: np.ndarray) -> np.ndarray:
    return np.array([K.fx * X[0] / X[2] + K.cx, K.fy * X[1] / X[2] + K.cy])


def test_resize_maps_pixel_centres():
    X = np.array([1.3, -0.4, 7.0])
    p = _project(K0, X)
    small = K0.resized(620, 188)
    assert np.allclose(_project(small, X), (p + 0.5) * 0.5 - 0.5)
    back = small.resized(1240, 376)
    assert np.allclose(back.matrix(), K0.matrix())


def test_crop_and_flip_follow_the_pixels():
    X = np.array([0.8, 0.2, 5.0])
    p = _project(K0, X)
    crop = K0.cropped(100, 40, 640, 192)
    assert np.allclose(_project(crop, X), p - [100, 40])
    flipped = K0.flipped()
    mirrored_point = X * [-1, 1, 1]
    assert np.allclose(_project(flipped, mirrored_point), [K0.width - 1 - p[0], p[1]])
    assert flipped.flipped() == K0


def test_bad_intrinsics_rejected():
    with pytest.raises(ValueError, match='focal'):
        Intrinsics(0.0, 1.0, 0.0, 0.0, 10, 10)
    with pytest.raises(ValueError, match='outside'):
        K0.cropped(1000, 0, 640, 192)


def test_camera_channels_are_resize_invariant():
    assert np.allclose(K0.camera_channels(), K0.resized(320, 97).camera_channels(), rtol=1e-9)


def test_positional_grid_of_crop_is_crop_of_full_grid():
    full = positional_grid(96, 320)
    crop = positional_grid(96, 320, y0=10, x0=37, height=64, width=192)
    assert np.array_equal(crop, full[:, 10:74, 37:229])
    assert full.min() > -1 and full.max() < 1
    assert np.allclose(full[0, 0, [0, -1]], [-1 + 1 / 320, 1 - 1 / 320])
    assert np.allclose(positional_grid_torch(1, 96, 320)[0].numpy(), full)


def test_known_translation_moves_pixel_by_f_t_over_z():
    K = torch.tensor([[[500.0, 0, 160], [0, 500.0, 48], [0, 0, 1]]])
    depth = torch.full((1, 1, 96, 320), 10.0)
    T = pose_to_matrix(torch.zeros(1, 3), torch.tensor([[0.2, 0.0, 0.0]]))
    xy, z = project(transform_points(T, backproject(depth, K)), K)
    shift = xy[0, 0].reshape(96, 320) - torch.arange(320.0)
    assert torch.allclose(shift, torch.full_like(shift, 500 * 0.2 / 10), atol=1e-4)
    assert torch.allclose(z, torch.full_like(z, 10.0))


def test_axis_angle_rotation_is_orthonormal_and_correct():
    R = axis_angle_to_matrix(torch.tensor([[0.0, np.pi / 2, 0.0]], dtype=torch.float64))[0]
    assert torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 0, -1], dtype=torch.float64), atol=1e-12)


def test_resize_intrinsics_matrix_matches_dataclass():
    K = torch.from_numpy(K0.matrix())[None]
    assert np.allclose(resize_intrinsics_matrix(K, 0.25, 0.5)[0].numpy(),
                       K0.resized(310, 188).matrix())


def test_points_from_depth_reprojects():
    depth = np.random.default_rng(0).uniform(1, 20, (4, 6)).astype(np.float32)
    K = K0.resized(6, 4).matrix()
    pts = points_from_depth(depth, K)
    uv = (K @ pts.reshape(-1, 3).T).T
    uv = uv[:, :2] / uv[:, 2:]
    ys, xs = np.mgrid[0:4, 0:6]
    assert np.allclose(uv, np.stack([xs.ravel(), ys.ravel()], 1), atol=1e-3)


@pytest.mark.parametrize('flip', [False, True])
def test_ray_positions_of_a_crop_are_the_rays_of_its_intrinsics(flip):
    """Positional channels of a crop of an enlarged frame + the camera channels give the rays
    that the crop's own K gives: training crops and full inference frames agree."""
    from svde_training.data.augment import CropParams, crop_intrinsics, crop_positions

    base = K0.resized(320, 96)
    crop = CropParams(400, 120, 37, 11, 256, 96, flip, 320)
    K = crop_intrinsics(base, crop)
    cam = torch.tensor([(K0.flipped() if flip else K0).camera_channels()])
    rays = ray_positions(torch.from_numpy(crop_positions(crop))[None], cam)[0]
    xs, ys = np.meshgrid(np.arange(K.width), np.arange(K.height))
    assert np.allclose(rays[0].numpy(), (xs - K.cx) / K.fx, atol=1e-5)
    assert np.allclose(rays[1].numpy(), (ys - K.cy) / K.fy, atol=1e-5)


@pytest.mark.parametrize('degrees', [0.0, 0.5, 30.0, 179.0])
def test_rotation_angle_of_a_known_rotation(degrees):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    R = axis_angle_to_matrix(torch.tensor(np.radians(degrees) * axis)[None]).numpy()[0]
    assert rotation_angle_deg(R) == pytest.approx(degrees, abs=1e-3)
