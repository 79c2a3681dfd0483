"""The geometric moving-object mask on rendered frames with a known answer, one case each.

Moving, still and turning cameras; a followed car (no image motion), an oncoming and a crossing
mover; a textureless sky, where the flow cannot tell and no verdict is given.
"""
import numpy as np
import pytest

from svde_ros.motion import road
from svde_ros.motion.ego_motion import FIRST_FRAME, MOVING, ONLY_TURNING, STILL, UNCERTAIN
from svde_ros.motion.mask import MotionMaskConfig
from svde_ros.motion.stream import MotionGeometry, mask_of_pair
from test.motion.scene import (
    CAR,
    K,
    motion,
    mover_inside,
    render_previous,
    road_scene,
    scene_depth,
    static_region,
    texture,
)


def geometry_of(T_prev_cur, mover_shift=None, known=False, sky_rows=0):
    current, depth = texture(sky_rows=sky_rows), scene_depth()
    previous = render_previous(current, depth, T_prev_cur, mover_shift)
    stream = MotionGeometry(MotionMaskConfig())
    odometry = (lambda then, now: T_prev_cur) if known else None
    first = stream.update(previous, 0.0, depth, K, odometry)
    return first, stream.update(current, 0.1, depth, K, odometry)


@pytest.mark.parametrize('known', [True, False], ids=['odometry', 'fitted'])
@pytest.mark.parametrize('shift', [(0.0, 0.0), (-2.0, 0.0), (0.0, 3.0)],
                         ids=['followed', 'oncoming', 'crossing'])
def test_a_mover_is_flagged_and_the_static_scene_is_not(known, shift):
    """The static scene's flow there is about +3.3 px in x (the step is mostly sideways): a
    followed car stays put, an oncoming one moves against that flow, a crossing one across it
    (a mover along the epipolar line moving with the flow looks like a static object at another
    depth, which no two-frame test can tell)."""
    first, result = geometry_of(motion(0.3, (0.1, 0.0, 0.2)), shift, known)
    assert first.state == FIRST_FRAME and first.mask is None
    assert result.state == MOVING
    assert result.mask[mover_inside()].mean() > 0.8
    assert result.mask[static_region()].mean() < 0.05


def test_a_static_scene_is_not_flagged():
    _, result = geometry_of(motion(0.3, (0.1, 0.0, 0.2)))
    assert result.state == MOVING and result.mask.mean() < 0.02


@pytest.mark.parametrize('known', [True, False], ids=['odometry', 'fitted'])
def test_a_still_camera_flags_what_moves_in_the_image(known):
    first, result = geometry_of(np.eye(4), (2.0, 1.0), known)
    assert result.state == STILL
    assert result.mask[mover_inside()].mean() > 0.9
    assert result.mask[static_region()].mean() < 0.01


def test_a_still_camera_and_a_still_scene_flag_nothing():
    _, result = geometry_of(np.eye(4))
    assert result.state == STILL and not result.mask.any()


@pytest.mark.parametrize('known', [True, False], ids=['odometry', 'fitted'])
def test_a_turning_camera_flags_what_the_rotation_does_not_explain(known):
    _, result = geometry_of(motion(1.5, (0.0, 0.0, 0.0)), (3.0, 0.0), known)
    assert result.state == ONLY_TURNING
    assert result.mask[mover_inside()].mean() > 0.8
    assert result.mask[static_region()].mean() < 0.03


def test_a_textureless_sky_gets_no_verdict():
    """The flow cannot tell anything in a flat sky: its pixels score 0, wherever they are."""
    _, result = geometry_of(np.eye(4), (2.0, 1.0), sky_rows=20)
    assert result.state == STILL
    assert not result.mask[:18].any() and (result.score[:18] == 0).all()
    assert result.mask[mover_inside()].mean() > 0.9


def test_odometry_that_the_images_contradict_gives_no_mask():
    """The odometry says the robot stood while the whole image moved: no verdict."""
    current, depth = texture(), scene_depth()
    previous = render_previous(current, depth, motion(0.3, (0.1, 0.0, 0.2)))
    stream = MotionGeometry(MotionMaskConfig())
    stream.update(previous, 0.0, depth, K, lambda then, now: np.eye(4))
    result = stream.update(current, 0.1, depth, K, lambda then, now: np.eye(4))
    assert result.state == UNCERTAIN and result.mask is None


def test_each_frame_is_compared_with_one_interval_older():
    stream = MotionGeometry(MotionMaskConfig(interval_s=0.1))
    depth, image = scene_depth(), texture()
    assert stream.update(image, 0.00, depth, K).state == FIRST_FRAME
    assert stream.update(image, 0.04, depth, K).state == FIRST_FRAME    # none old enough
    assert stream.update(image, 0.12, depth, K).state != FIRST_FRAME
    assert stream.update(image, 0.05, depth, K).state == FIRST_FRAME    # time went back
    assert stream.update(image, 5.00, depth, K).state == FIRST_FRAME    # a gap in the stream


def test_a_pair_gives_the_same_mask_as_the_stream():
    T = motion(0.3, (0.1, 0.0, 0.2))
    current, depth = texture(), scene_depth()
    previous = render_previous(current, depth, T, (0.0, 0.0))
    _, streamed = geometry_of(T, (0.0, 0.0))
    paired = mask_of_pair(MotionMaskConfig(), previous, current, depth, K)
    assert np.array_equal(paired.mask, streamed.mask)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='threshold'):
        MotionMaskConfig(threshold=0.0)


def test_a_car_followed_on_the_road_is_flagged_where_the_network_misjudges_its_depth(
        monkeypatch):
    """Driving ahead at our speed, the car does not move in the image. The network puts it 2.5x
    too far, where a static car would move only 40% of its true parallax: the ordinary score
    forgives that. The road does not: the car shows less parallax than the road beneath it,
    which nothing static can (without the road the same frames flag none of it)."""
    truth = road_scene()
    rows, cols = CAR
    truth[rows, cols] = truth[rows.stop - 1, cols].min()     # its back: one depth, on the road
    network = truth.copy()
    network[rows, cols] *= 2.5
    T = motion(0.2, (0.0, 0.0, 0.8))
    current = texture()
    previous = render_previous(current, truth, T, (0.0, 0.0), CAR)
    stream = MotionGeometry(MotionMaskConfig())
    stream.update(previous, 0.0, network, K)
    result = stream.update(current, 0.1, network, K)
    assert result.state == MOVING and result.road is not None
    assert result.road.normal[1] > np.cos(np.radians(2))
    assert result.mask[mover_inside(CAR)].mean() > 0.6
    assert result.mask[static_region(CAR)].mean() < 0.01
    # Without a road to judge by (every road refused), the same frames flag next to none of it.
    monkeypatch.setattr(road, 'ROAD_MAX_ERROR', -1.0)
    stream = MotionGeometry(MotionMaskConfig())
    stream.update(previous, 0.0, network, K)
    alone = stream.update(current, 0.1, network, K)
    assert alone.road is None and alone.mask[mover_inside(CAR)].mean() < 0.05


def test_no_road_is_judged_by_where_the_scene_below_is_no_plane():
    """The textured scene of the other tests has no floor: no road, and no mask from one."""
    _, result = geometry_of(motion(0.3, (0.1, 0.0, 0.2)))
    assert result.state == MOVING and result.road is None
