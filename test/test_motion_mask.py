"""The geometric moving-object mask on frames with a known answer.

The frames are rendered from a textured scene of known depth and a known camera motion; the
observed flow is OpenCV's DIS on those images, so it is measured, not given.
"""
import cv2
import numpy as np
import pytest

from svde_ros.motion_mask import (
    STATUS_FIRST,
    STATUS_NO_PARALLAX,
    STATUS_OK,
    MotionMaskConfig,
    MotionMasker,
    expected_flow,
)

H, W = 96, 320
K = np.array([[200.0, 0.0, W / 2], [0.0, 200.0, H / 2], [0.0, 0.0, 1.0]])
MOVER = (slice(30, 60), slice(100, 150))     # rows, columns of the mover in the current frame


def texture(seed: int = 0) -> np.ndarray:
    """An RGB texture DIS can follow, at twice the depth's size (camera frames come larger)."""
    rng = np.random.default_rng(seed)
    grey = cv2.GaussianBlur(rng.random((2 * H, 2 * W)).astype(np.float32), (0, 0), 2.0)
    grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def scene_depth() -> np.ndarray:
    """A non-planar scene (so the essential matrix is defined), 5-15 m."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    return 5.0 + 8.0 * (u / W - 0.5) ** 2 * 4 + 2.0 * v / H


def motion(yaw_deg: float, t: tuple[float, float, float]) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], _ = cv2.Rodrigues(np.array([0.0, np.deg2rad(yaw_deg), 0.0]))
    T[:3, 3] = t
    return T


def render_previous(current: np.ndarray, depth: np.ndarray, T_prev_cur: np.ndarray,
                    mover: bool) -> np.ndarray:
    """The previous frame: each current pixel moved to where the static scene puts it.

    The motions are kept to a few pixels: DIS, coarse to fine, does not find a mover whose
    flow differs from its surroundings' by tens of pixels. The flow field (current -> previous)
    is inverted by fixed-point iteration, which is exact
    enough for the smooth depth used here. With `mover`, the mover's pixels are where they are
    now (a car followed at the camera's speed: no image motion).
    """
    flow, _ = expected_flow(depth, K, T_prev_cur)
    flow = cv2.resize(flow, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR) * 2
    q = np.stack(np.meshgrid(np.arange(2 * W), np.arange(2 * H)), -1).astype(np.float32)
    p = q.copy()
    for _ in range(10):
        p = q - cv2.remap(flow, p[..., 0], p[..., 1], cv2.INTER_LINEAR)
    previous = cv2.remap(current, p[..., 0], p[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    if mover:
        rows, cols = MOVER
        big = (slice(2 * rows.start, 2 * rows.stop), slice(2 * cols.start, 2 * cols.stop))
        previous[big] = current[big]
    return previous


def masks_of(T_prev_cur: np.ndarray, mover: bool, known: bool):
    current, depth = texture(), scene_depth()
    previous = render_previous(current, depth, T_prev_cur, mover)
    masker = MotionMasker(MotionMaskConfig())
    first = masker.update(previous, 0.0, depth, K)
    result = masker.update(current, 0.1, depth, K,
                           (lambda then, now: T_prev_cur) if known else None)
    return first, result


@pytest.mark.parametrize('known', [True, False], ids=['odometry', 'fitted'])
def test_a_followed_mover_is_flagged_and_the_static_scene_is_not(known):
    T = motion(0.3, (0.1, 0.0, 0.2))
    first, result = masks_of(T, mover=True, known=known)
    assert first.status == STATUS_FIRST and first.mask is None
    assert result.status == STATUS_OK
    rows, cols = MOVER
    inner = result.mask[rows.start + 4:rows.stop - 4, cols.start + 4:cols.stop - 4]
    assert inner.mean() > 0.8
    static = np.ones((H, W), bool)
    static[rows.start - 8:rows.stop + 8, cols.start - 8:cols.stop + 8] = False
    assert result.mask[static].mean() < 0.05
    if not known:   # the ego-motion fitted to the flow, in the depth's scale
        t_fit, t_true = result.T_prev_cur[:3, 3], T[:3, 3]
        assert np.dot(t_fit, t_true) / np.linalg.norm(t_fit) / np.linalg.norm(t_true) > 0.98
        assert np.linalg.norm(t_fit) == pytest.approx(np.linalg.norm(t_true), rel=0.2)


def test_a_static_scene_is_not_flagged():
    _, result = masks_of(motion(0.3, (0.1, 0.0, 0.2)), mover=False, known=False)
    assert result.status == STATUS_OK
    assert result.mask.mean() < 0.02


@pytest.mark.parametrize('known', [True, False], ids=['odometry', 'fitted'])
@pytest.mark.parametrize('yaw_deg', [0.0, 2.0], ids=['still', 'turning'])
def test_a_camera_that_only_turns_or_stands_still_gives_no_mask(known, yaw_deg):
    _, result = masks_of(motion(yaw_deg, (0.0, 0.0, 0.0)), mover=False, known=known)
    assert result.status == STATUS_NO_PARALLAX
    assert result.mask is None


def test_each_frame_is_compared_with_one_interval_older():
    masker = MotionMasker(MotionMaskConfig(interval_s=0.1))
    depth, image = scene_depth(), texture()
    assert masker.update(image, 0.00, depth, K).status == STATUS_FIRST
    assert masker.update(image, 0.04, depth, K).status == STATUS_FIRST    # none old enough
    assert masker.update(image, 0.12, depth, K).status != STATUS_FIRST
    assert masker.update(image, 0.05, depth, K).status == STATUS_FIRST    # time went back
    assert masker.update(image, 5.00, depth, K).status == STATUS_FIRST    # a gap in the stream


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='threshold'):
        MotionMaskConfig(threshold=0.0)


def test_odometry_gives_direction_and_stillness_the_depth_gives_length():
    T = motion(0.3, (0.1, 0.0, 0.2))
    current, depth = texture(), scene_depth()
    previous = render_previous(current, depth, T, mover=True)
    asked = []

    def metres(then, now):          # odometry in another unit: 10x the depth's
        asked.append((then, now))
        scaled = T.copy()
        scaled[:3, 3] *= 10
        return scaled
    masker = MotionMasker(MotionMaskConfig())
    masker.update(previous, 1.0, depth, K, metres)
    result = masker.update(current, 1.1, depth, K, metres)
    assert asked == [(1.0, 1.1)] and result.status == STATUS_OK
    assert result.T_prev_cur[:3, 3] == pytest.approx(T[:3, 3], rel=0.15, abs=0.01)
    still = MotionMasker(MotionMaskConfig())
    still.update(previous, 1.0, depth, K, lambda then, now: np.eye(4))
    assert still.update(current, 1.1, depth, K, lambda then, now: np.eye(4)).status == \
        STATUS_NO_PARALLAX                   # whatever moves in the image: the robot stood
    fallback = MotionMasker(MotionMaskConfig())
    fallback.update(previous, 1.0, depth, K, lambda then, now: None)
    assert fallback.update(current, 1.1, depth, K, lambda then, now: None).status == STATUS_OK
