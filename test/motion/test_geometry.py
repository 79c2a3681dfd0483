"""Ego-motion, triangulation and fusion on rendered frames of known depth and motion."""
import numpy as np
import pytest

from svde_ros.geometry import rotation_angle_deg
from svde_ros.motion.ego_motion import (
    MOVING,
    ONLY_TURNING,
    STILL,
    EgoMotion,
    angle_deg,
    estimate_ego_motion,
    with_depth_length,
)
from svde_ros.motion.flow import grey_at, observed_flow
from svde_ros.motion.fusion import fuse
from svde_ros.motion.mask import MotionMaskConfig
from svde_ros.motion.stream import MotionGeometry
from svde_ros.motion.triangulation import FOE_CONE_DEG, Triangulated, triangulate
from test.motion.scene import (
    H,
    K,
    W,
    motion,
    mover_inside,
    render_previous,
    scene_depth,
    static_region,
    texture,
)


def flow_of(T_prev_cur, mover_shift=None):
    current, depth = texture(), scene_depth()
    previous = render_previous(current, depth, T_prev_cur, mover_shift)
    return observed_flow(grey_at(current, W, H), grey_at(previous, W, H)), depth


@pytest.mark.parametrize('yaw_deg, step', [(0.3, (0.1, 0.0, 0.2)), (-1.0, (0.0, 0.0, 0.3)),
                                           (0.5, (-0.15, 0.02, 0.1))],
                         ids=['right-forward', 'forward-turning', 'left'])
def test_the_motion_is_recovered_from_the_flow(yaw_deg, step):
    T = motion(yaw_deg, step)
    flow, _ = flow_of(T)
    ego = estimate_ego_motion(flow, K)
    assert ego.state == MOVING and ego.source == 'flow' and ego.inliers > 0.8
    assert angle_deg(ego.direction, T[:3, 3]) < 3.0
    assert rotation_angle_deg(ego.T_prev_cur[:3, :3].T @ T[:3, :3]) < 0.1


def test_the_steps_length_is_measured_on_the_depth():
    T = motion(0.3, (0.1, 0.0, 0.2))
    flow, depth = flow_of(T)
    ego = estimate_ego_motion(flow, K)
    scaled = with_depth_length(depth, flow.flow, K, ego.T_prev_cur, flow.reliable)
    assert np.linalg.norm(scaled[:3, 3]) == pytest.approx(np.linalg.norm(T[:3, 3]), rel=0.1)
    half = with_depth_length(depth / 2, flow.flow, K, ego.T_prev_cur, flow.reliable)
    assert np.linalg.norm(half[:3, 3]) == pytest.approx(np.linalg.norm(scaled[:3, 3]) / 2,
                                                        rel=0.02)


def test_still_and_turning_cameras_are_their_own_states():
    still, _ = flow_of(np.eye(4))
    assert estimate_ego_motion(still, K).state == STILL
    T = motion(2.0, (0.0, 0.0, 0.0))
    turned = estimate_ego_motion(flow_of(T)[0], K)
    assert turned.state == ONLY_TURNING
    assert rotation_angle_deg(turned.T_prev_cur[:3, :3].T @ T[:3, :3]) < 0.1


def test_a_wrong_candidate_loses():
    """A previous motion sideways does not explain this forward step: the fit wins; one that
    explains it as well as the fit (the true motion) is kept over a jump."""
    T = motion(0.3, (0.02, 0.0, 0.3))
    flow, _ = flow_of(T)
    sideways = EgoMotion(MOVING, motion(0.0, (1.0, 0.0, 0.0)))
    ego = estimate_ego_motion(flow, K, prior=sideways)
    assert ego.source == 'flow' and angle_deg(ego.direction, T[:3, 3]) < 3.0
    true = EgoMotion(MOVING, T)
    assert estimate_ego_motion(flow, K, prior=true).state == MOVING


def test_odometry_gives_the_length_and_the_flow_the_rotation():
    """Odometry that agrees with the images: the flow's rotation and direction (sharper than most
    odometry), the odometry's length (metric)."""
    T = motion(0.3, (0.1, 0.0, 0.2))
    flow, _ = flow_of(T)
    noisy = motion(0.8, (0.11, 0.0, 0.19))        # half a degree off in rotation
    noisy[:3, 3] *= 10                            # and in another unit
    ego = estimate_ego_motion(flow, K, odometry=noisy)
    assert ego.state == MOVING and ego.metric and ego.source == 'odometry+flow'
    assert np.linalg.norm(ego.T_prev_cur[:3, 3]) == pytest.approx(np.linalg.norm(noisy[:3, 3]))
    assert rotation_angle_deg(ego.T_prev_cur[:3, :3].T @ T[:3, :3]) < 0.1
    assert angle_deg(ego.direction, T[:3, 3]) < 3.0


def test_triangulation_returns_the_depth():
    T = motion(0.3, (0.1, 0.0, 0.2))
    flow, depth = flow_of(T)
    tri = triangulate(flow, K, T)
    assert tri.coverage > 0.6
    error = np.abs(tri.depth - depth) / depth
    assert np.nanmedian(error) < 0.03
    assert np.nanpercentile(error, 90) < 0.1
    assert (tri.rel_sigma[tri.valid] < 0.5).all() and np.isinf(tri.rel_sigma[~tri.valid]).all()


def test_the_focus_of_expansion_gets_no_depth():
    """Straight ahead the camera's motion gives no parallax: nothing is triangulated there."""
    T = motion(0.0, (0.0, 0.0, 0.3))
    flow, depth = flow_of(T)
    tri = triangulate(flow, K, T)
    v, u = np.mgrid[0:H, 0:W]
    near_foe = np.degrees(np.arctan2(np.hypot(u - K[0, 2], v - K[1, 2]), K[0, 0])) \
        < FOE_CONE_DEG
    assert not tri.valid[near_foe].any()
    assert tri.coverage > 0.3
    assert np.nanmedian(np.abs(tri.depth - depth) / depth) < 0.05


def test_a_mover_is_kept_out():
    T = motion(0.3, (0.1, 0.0, 0.2))
    flow, _ = flow_of(T, (0.0, 0.0))
    movers = np.zeros((H, W), bool)
    movers[mover_inside()] = True
    tri = triangulate(flow, K, T, exclude=movers)
    assert not tri.valid[mover_inside()].any() and tri.valid[static_region()].mean() > 0.5


def test_fusion_puts_the_network_in_the_triangulations_unit():
    """The network's depth twice too deep and bent; triangulated on the left half only: the
    fused map is right where triangulated and takes the local scale elsewhere."""
    truth = scene_depth()
    bend = np.linspace(0.9, 1.1, W)[None, :]
    network = 2.0 * truth * bend
    left = np.zeros((H, W), bool)
    left[:, :W // 2] = True
    tri = Triangulated(np.where(left, truth, np.nan).astype(np.float32),
                       np.where(left, 0.05, np.inf).astype(np.float32),
                       np.full((H, W), 5.0, np.float32), np.zeros((H, W), np.float32))
    fused = fuse(network, tri)
    assert fused is not None and fused.share == pytest.approx(0.5)
    assert np.median(np.abs(fused.depth[left] - truth[left]) / truth[left]) < 0.01
    error = np.abs(fused.depth[~left] - truth[~left]) / truth[~left]
    assert np.median(error) < 0.15                     # the network alone is 2x off
    assert fuse(network, Triangulated(np.full((H, W), np.nan, np.float32),
                                      np.full((H, W), np.inf, np.float32),
                                      np.zeros((H, W), np.float32),
                                      np.zeros((H, W), np.float32))) is None


def test_the_stream_fuses_a_moving_camera_and_keeps_the_network_otherwise():
    """First frame: the network's. Moving: closer to the truth than a distorted network.
    Still: the network's at the last known scale."""
    T = motion(0.3, (0.1, 0.0, 0.2))
    current, truth = texture(), scene_depth()
    previous = render_previous(current, truth, T)
    network = truth * np.linspace(0.7, 1.3, H)[:, None]          # a depth bent by row
    stream = MotionGeometry(MotionMaskConfig())
    first = stream.update(previous, 0.0, network, K)
    assert first.state == 'first_frame' and np.array_equal(first.depth, network)
    moved = stream.update(current, 0.1, network, K)
    assert moved.state == MOVING and moved.fused_share > 0.5
    relative = np.nanmedian(np.abs(moved.depth / np.nanmedian(moved.depth) * np.median(truth)
                                   - truth) / truth)
    before = np.median(np.abs(network / np.median(network) * np.median(truth) - truth) / truth)
    assert relative < 0.5 * before
    still = stream.update(current, 0.2, network, K)
    assert still.state == STILL and still.fused_share == 0
    assert np.allclose(still.depth, network * stream.scale)


def test_with_odometry_the_fused_depth_is_metric():
    T = motion(0.3, (0.1, 0.0, 0.2))
    current, truth = texture(), scene_depth()
    previous = render_previous(current, truth, T)
    network = truth / 7.0                                        # the network's own unit
    stream = MotionGeometry(MotionMaskConfig())
    stream.update(previous, 0.0, network, K, lambda a, b: T)
    result = stream.update(current, 0.1, network, K, lambda a, b: T)
    assert result.ego.metric and stream.metric
    assert stream.scale == pytest.approx(7.0, rel=0.1)
    assert np.nanmedian(np.abs(result.depth - truth) / truth) < 0.1
