"""depth_node over real rclpy on loopback (isolated domain), fed real KITTI frames."""
import os
import random
import threading
import time

import cv2
import numpy as np
import pytest
import yaml

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ['ROS_DOMAIN_ID'] = str(random.randint(100, 200))

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import (  # noqa: E402
    CameraInfo,
    CompressedImage,  # noqa: E402
    Image,
    PointCloud2,
)

from svde_ros.ros.depth_node import RATE_SPAN_S, STAGES, STALE_S, DepthNode  # noqa: E402
from svde_ros.ros.image_conversions import array_to_image, image_to_array  # noqa: E402
from svde_ros.ros.pointcloud import cloud_to_array  # noqa: E402

OUTPUTS = {'depth/image': Image, 'depth/camera_info': CameraInfo, 'moving_mask/image': Image,
           'moving_mask/camera_info': CameraInfo, 'points': PointCloud2,
           'depth/colorized': Image}


class Harness:
    """The node under test plus a peer node that publishes inputs and records outputs."""

    def __init__(self, checkpoint: str, cli_args: list[str] | None = None,
                 **overrides: object) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        parameters = [Parameter('checkpoint', value=checkpoint),
                      Parameter('backend', value='torch'),
                      Parameter('min_depth_m', value=0.01),
                      Parameter('max_depth_m', value=1000.0)]
        parameters += [Parameter(k, value=v) for k, v in overrides.items()]
        self.node = DepthNode(context=self.context, parameter_overrides=parameters,
                              cli_args=cli_args)
        self.peer = rclpy.create_node('peer', context=self.context)
        self.warnings: list[str] = []     # the node's warnings, as any ROS tool sees them
        self.peer.create_subscription(
            Log, '/rosout', lambda m: self.warnings.append(m.msg)
            if m.name == 'depth_node' and m.level == Log.WARN else None,
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_image = self.peer.create_publisher(Image, 'image', reliable)
        self.pub_info = self.peer.create_publisher(CameraInfo, 'camera_info', reliable)
        self.received: dict[str, list] = {name: [] for name in OUTPUTS}
        for name, kind in OUTPUTS.items():
            self.peer.create_subscription(kind, name, self.received[name].append, reliable)
        self.executor = MultiThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.wait(lambda: self.pub_image.get_subscription_count() > 0
                  and self.node.pub_depth.get_subscription_count() > 0)

    def wait(self, condition, timeout=30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return False

    def send(self, image: Image, info: CameraInfo | None, stamp_s: float,
             settle_s: float = 0.05) -> None:
        image.header.stamp.sec = int(stamp_s)
        image.header.stamp.nanosec = int(round((stamp_s % 1) * 1e9))
        image.header.frame_id = 'camera_optical'
        if info is not None:
            info.header = image.header
            self.pub_info.publish(info)
            time.sleep(settle_s)
        self.pub_image.publish(image)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5)


@pytest.mark.slow
def test_real_frames_in_depth_mask_cloud_out(checkpoint, kitti):
    # both: SPIMO gives the first frame a mask (the motion mask has nothing to compare with).
    h = Harness(checkpoint, mask_method='both')
    try:
        image, info = kitti[0]
        h.send(image, info, stamp_s=42)
        assert h.wait(lambda: all(h.received[n] for n in OUTPUTS)), \
            {n: len(v) for n, v in h.received.items()}
        depth_msg = h.received['depth/image'][0]
        assert depth_msg.encoding == '32FC1'
        assert (depth_msg.header.stamp.sec, depth_msg.header.frame_id) == (42, 'camera_optical')
        depth = image_to_array(depth_msg)
        assert depth.shape == (64, 128)          # the checkpoint's input size
        assert np.isfinite(depth).all() and (depth > 0).all()
        info_out = h.received['depth/camera_info'][0]
        assert (info_out.width, info_out.height) == (128, 64)
        assert info_out.k[0] == pytest.approx(721.5377 * 128 / 1242)
        mask = image_to_array(h.received['moving_mask/image'][0])
        assert mask.shape == depth.shape and set(np.unique(mask)) <= {0, 255}
        cloud = h.received['points'][0]
        assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb']
        assert (cloud.height, cloud.width) == (32, 64)    # decimation 2, organized
        K = np.array(info_out.k).reshape(3, 3)
        points = cloud_to_array(cloud)[..., :3]
        v, u = 10, 20
        z = depth[2 * v, 2 * u]
        expected = [(2 * u - K[0, 2]) * z / K[0, 0], (2 * v - K[1, 2]) * z / K[1, 1], z]
        assert np.allclose(points[v, u], expected, atol=1e-4)
        assert h.received['depth/colorized'][0].encoding == 'rgb8'
    finally:
        h.close()


@pytest.mark.slow
def test_bad_input_keeps_the_node_alive(checkpoint, kitti):
    h = Harness(checkpoint)
    try:
        image, info = kitti[1]
        bad = [
            (array_to_image(np.zeros((4, 4, 3), np.uint8), 'rgb8'), None, 'encoding'),
            (Image(encoding='rgb8', width=0, height=0), None, 'empty'),
            (Image(encoding='rgb8', width=10, height=10, step=5, data=b'\x00' * 50), None, 'step'),
            (array_to_image(np.full((8, 8), np.nan, np.float32), '32FC1'), None, 'nan'),
            (image, CameraInfo(width=info.width, height=info.height, k=[0.0] * 9), 'zero K'),
            (image, CameraInfo(width=640, height=480, k=info.k), 'size'),
        ]
        bad[0][0].encoding = 'yuv422'
        for stamp, (msg, cam, _) in enumerate(bad, start=1):
            h.send(msg, cam, stamp)
            time.sleep(0.3)
        assert h.wait(lambda: h.node.rejected >= len(bad)), h.node.rejected
        assert not h.received['depth/image']
        h.send(image, info, stamp_s=100)
        assert h.wait(lambda: len(h.received['depth/image']) == 1)
        assert h.received['depth/image'][0].header.stamp.sec == 100
    finally:
        h.close()


@pytest.mark.slow
def test_camera_info_arriving_just_after_its_image_is_used(checkpoint, kitti):
    # Drivers publish an image and its camera_info together; either may arrive first.
    h = Harness(checkpoint)
    try:
        assert h.wait(lambda: h.pub_info.get_subscription_count() > 0)
        image, info = kitti[0]
        h.send(image, None, stamp_s=7)
        time.sleep(0.05)
        info.header = image.header
        h.pub_info.publish(info)
        assert h.wait(lambda: len(h.received['depth/image']) == 1), h.node.rejected
        assert h.node.rejected == 0
        assert h.received['depth/image'][0].header.stamp.sec == 7
    finally:
        h.close()


@pytest.mark.slow
def test_frames_arriving_during_inference_are_replaced_by_the_newest(checkpoint, kitti):
    """Keep-latest, exactly: while one frame is in inference the newer ones replace each other.

    The real inference of the first frame is held until five more frames have arrived (reliable
    input: none lost in transport), so the outcome does not ride on how fast this machine is.
    """
    h = Harness(checkpoint, spimo_enabled=False, cloud_enabled=False,
                input_reliability='reliable')
    started, release = threading.Event(), threading.Event()
    infer = h.node.backend.infer

    def held(*args, **kwargs):
        started.set()
        release.wait(60)
        return infer(*args, **kwargs)

    h.node.backend.infer = held
    try:
        image, info = kitti[2]
        h.send(image, info, stamp_s=1)
        assert started.wait(60)                          # frame 1 is in inference
        for i in range(5):
            h.send(image, info, stamp_s=2 + i)
            assert h.wait(lambda i=i: h.node.received == 2 + i)
        release.set()
        node = h.node
        assert h.wait(lambda: node.processed == 2 and node.idle()
                      and len(h.received['depth/image']) == 2)
        assert (node.received, node.processed, node.dropped, node.rejected) == (6, 2, 4, 0)
        # Frame 1, then the newest: 2-5 were replaced in the one-slot queue, never processed.
        assert [m.header.stamp.sec for m in h.received['depth/image']] == [1, 6]
    finally:
        release.set()
        h.close()


def test_config_file_matches_declared_defaults():
    from pathlib import Path

    from svde_ros.ros.params import SPEC
    path = Path(__file__).resolve().parents[2] / 'config' / 'depth.yaml'
    declared = yaml.safe_load(path.read_text())['/**']['ros__parameters']
    assert set(declared) == set(SPEC)
    for name, value in declared.items():
        assert value == SPEC[name][0], name


def test_missing_model_is_one_clear_error(tmp_path):
    from svde_ros.model.checkpoint import CheckpointError
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(CheckpointError, match='checkpoint not found: .*nope.pt'):
            DepthNode(context=context, parameter_overrides=[
                Parameter('checkpoint', value=str(tmp_path / 'nope.pt'))])
    finally:
        rclpy.try_shutdown(context=context)      # tears down the half-built node cleanly


@pytest.mark.slow
def test_compressed_input_follows_the_image_remap(checkpoint, kitti):
    # image_transport naming: the compressed stream of /cam/image_raw is
    # /cam/image_raw/compressed, so one `image` remap serves raw and compressed input.
    h = Harness(checkpoint, cli_args=['--ros-args', '-r', 'image:=/cam/image_raw'],
                compressed=True, spimo_enabled=False, cloud_enabled=False)
    try:
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pub = h.peer.create_publisher(CompressedImage, '/cam/image_raw/compressed', reliable)
        assert h.wait(lambda: pub.get_subscription_count() > 0)
        image, info = kitti[0]
        rgb = image_to_array(image)[..., ::-1]
        ok, jpeg = cv2.imencode('.jpg', rgb[..., ::-1])
        msg = CompressedImage(format='jpeg', data=jpeg.tobytes())
        msg.header.stamp.sec, msg.header.frame_id = 3, 'camera_optical'
        info.header = msg.header
        h.pub_info.publish(info)
        time.sleep(0.05)
        pub.publish(msg)
        assert h.wait(lambda: len(h.received['depth/image']) == 1), h.node.rejected
    finally:
        h.close()


@pytest.mark.slow
def test_warnings_are_throttled_per_kind_of_problem(checkpoint, kitti):
    h = Harness(checkpoint)
    try:
        image, info = kitti[0]
        short = Image(encoding='rgb8', width=10, height=10, step=30, data=b'\x00' * 50)
        narrow = Image(encoding='rgb8', width=10, height=10, step=5, data=b'\x00' * 50)
        empty = Image(encoding='rgb8', width=0, height=0)
        zero_k = CameraInfo(width=info.width, height=info.height, k=[0.0] * 9)
        wrong_size = CameraInfo(width=640, height=480, k=info.k)
        for stamp, (msg, cam) in enumerate([(short, None), (short, None), (narrow, None),
                                            (empty, None), (image, zero_k),
                                            (image, wrong_size)], start=1):
            h.send(msg, cam, stamp)
            time.sleep(0.3)
        assert h.wait(lambda: h.node.rejected == 6), h.node.rejected
        kinds = ['short of step x height', 'shorter than a row', 'empty image',
                 'invalid intrinsics', 'camera_info is 640x480']
        assert h.wait(lambda: all(any(k in w for w in h.warnings) for k in kinds)), h.warnings
        assert sum('short of step x height' in w for w in h.warnings) == 1   # throttled
    finally:
        h.close()


@pytest.mark.slow
def test_late_camera_info_reuses_a_constant_k_and_rejects_a_changed_one(checkpoint, kitti):
    h = Harness(checkpoint, spimo_enabled=False, cloud_enabled=False)
    try:
        image, info = kitti[0]
        h.send(image, info, stamp_s=10)
        assert h.wait(lambda: h.node.processed == 1)
        h.send(image, None, stamp_s=20)       # its camera_info never comes; K is constant
        assert h.wait(lambda: h.node.processed == 2), h.node.rejected
        assert h.node.sync.reused == 1 and h.node.rejected == 0
        changed = CameraInfo(width=info.width, height=info.height,
                             k=[v * 1.1 if v not in (0.0, 1.0) else v for v in info.k])
        h.send(image, changed, stamp_s=30)     # K changed (zoom)
        assert h.wait(lambda: h.node.processed == 3)
        h.send(image, None, stamp_s=40)        # late again: the K in force is ambiguous
        assert h.wait(lambda: h.node.rejected == 1)
        assert any('K has changed' in w for w in h.warnings) or h.wait(
            lambda: any('K has changed' in w for w in h.warnings))
    finally:
        h.close()


def test_float_parameters_accept_integers_and_refuse_nonsense(checkpoint):
    h = Harness(checkpoint)
    try:
        node = h.node
        assert node.set_parameters([Parameter('max_depth_m', value=50)])[0].successful
        assert node.params.max_depth_m == 50.0 and isinstance(node.params.max_depth_m, float)
        result = node.set_parameters([Parameter('max_depth_m', value='far')])[0]
        assert not result.successful and 'expected a number' in result.reason
        result = node.set_parameters([Parameter('min_depth_m', value=60)])[0]
        assert not result.successful and 'must be smaller than max_depth_m' in result.reason
        assert node.params.max_depth_m == 50.0 and node.params.min_depth_m == 0.01
    finally:
        h.close()


def _distorted_bag(path, rgb, K, D):
    """A rosbag2 with one rgb8 Image and a plumb_bob CameraInfo with distortion D."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types
    header = T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=5, nanosec=0),
                                      frame_id='camera_optical')
    P = np.hstack([K, np.zeros((3, 1))])
    info = T['sensor_msgs/msg/CameraInfo'](
        header=header, height=rgb.shape[0], width=rgb.shape[1], distortion_model='plumb_bob',
        d=np.array(D), k=K.reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0,
        binning_y=0, roi=T['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    image = T['sensor_msgs/msg/Image'](
        header=header, height=rgb.shape[0], width=rgb.shape[1], encoding='rgb8',
        is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.reshape(-1))
    with Writer(path, version=8) as writer:
        for topic, msg, kind in (('/camera/camera_info', info, 'sensor_msgs/msg/CameraInfo'),
                                 ('/camera/image_raw', image, 'sensor_msgs/msg/Image')):
            conn = writer.add_connection(topic, kind, typestore=store)
            for t in (5, 6):                          # a clip needs two frames
                writer.write(conn, t * 10 ** 9, store.serialize_cdr(msg, kind))


@pytest.mark.slow
def test_node_and_training_undistort_a_bag_frame_identically(checkpoint, kitti, tmp_path):
    # The network must see in service what it saw in training: a distorted camera's frame,
    # read from a bag by the training loader, and the same frame sent to the node.
    from svde_ros.preprocess import resize_frame
    from svde_training.data.rosbag import RosbagClip
    image, info = kitti[0]
    rgb = image_to_array(image)[..., ::-1].copy()                  # bgr8 -> rgb8
    K = np.array(info.k).reshape(3, 3)
    D = [-0.25, 0.08, 0.001, -0.002, 0.0]
    _distorted_bag(tmp_path / 'bag', rgb, K, D)
    clip = RosbagClip(tmp_path / 'bag', '/camera/image_raw', skip_static=False)
    expected, K_small = resize_frame(clip.image(0), clip.intrinsics(0), 128, 64)
    assert not np.array_equal(clip.image(0), rgb)                  # D was applied
    h = Harness(checkpoint, cli_args=['--ros-args', '-r', 'image:=/camera/image_raw'],
                spimo_enabled=False, cloud_decimation=1, cloud_rgb=True)
    try:
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pub = h.peer.create_publisher(Image, '/camera/image_raw', reliable)
        assert h.wait(lambda: pub.get_subscription_count() > 0)
        msg = array_to_image(rgb, 'rgb8')
        msg.header.stamp.sec, msg.header.frame_id = 5, 'camera_optical'
        distorted = CameraInfo(header=msg.header, width=rgb.shape[1], height=rgb.shape[0],
                               distortion_model='plumb_bob', d=D, k=info.k,
                               p=np.hstack([K, np.zeros((3, 1))]).reshape(-1).tolist())
        h.pub_info.publish(distorted)
        time.sleep(0.05)
        pub.publish(msg)
        assert h.wait(lambda: h.received['points'] and h.received['depth/camera_info']), \
            h.node.rejected
        cloud = cloud_to_array(h.received['points'][0])
        seen = cloud[..., 3].copy().view(np.uint32)                # 0x00RRGGBB per pixel
        seen = np.stack([(seen >> 16) & 255, (seen >> 8) & 255, seen & 255], -1)
        assert np.array_equal(seen.astype(np.uint8), expected)
        assert np.allclose(np.array(h.received['depth/camera_info'][0].k).reshape(3, 3),
                           K_small.matrix())
    finally:
        h.close()


@pytest.mark.slow
def test_diagnostics_name_the_node_and_report_a_stopped_camera(checkpoint, kitti):
    h = Harness(checkpoint)
    try:
        waiting = h.node.diagnostic_status()
        # The node's full name: under launch, e.g. 'front/depth_node: depth'.
        assert waiting.name == f'{h.node.get_fully_qualified_name().lstrip("/")}: depth'
        assert waiting.level == DiagnosticStatus.WARN
        image, info = kitti[0]
        h.send(image, info, stamp_s=5)
        assert h.wait(lambda: h.node.processed == 1)
        # Judged at the moment the frame was done, so a loaded machine's delay cannot age it.
        running = h.node.diagnostic_status(now=h.node._stamps[-1])
        assert running.level == DiagnosticStatus.OK
        assert running.hardware_id == 'camera_optical'           # the camera's frame_id
        values = {v.key: v.value for v in running.values}
        stages = [k for k in values if k.endswith('_ms_p50') and k[:-7] in STAGES]
        assert {'decode', 'undistort', 'inference', 'depth', 'cloud'} <= {k[:-7] for k in stages}
        assert float(values['rate_hz']) > 0
        stopped = h.node.diagnostic_status(now=time.monotonic() + max(STALE_S, RATE_SPAN_S) + 1)
        assert stopped.level == DiagnosticStatus.ERROR and 'no frame' in stopped.message
        assert float({v.key: v.value for v in stopped.values}['rate_hz']) == 0
    finally:
        h.close()


def test_camera_info_max_delay_applies_at_run_time(checkpoint):
    h = Harness(checkpoint)
    try:
        result = h.node.set_parameters([Parameter('camera_info_max_delay_s', value=2.5)])
        assert result[0].successful and h.node.sync.max_delay_s == 2.5
    finally:
        h.close()


def test_a_missing_package_is_one_line_that_says_what_to_install():
    from svde_ros.ros.depth_node import missing_module_line

    line = missing_module_line(ModuleNotFoundError("No module named 'onnxruntime'",
                                                   name='onnxruntime'))
    assert line.startswith('cannot import onnxruntime') and 'pip install onnxruntime' in line
    assert '\n' not in line


@pytest.mark.slow
def test_the_motion_mask_starts_on_the_second_frame(checkpoint, kitti):
    """The default mask: none on the first frame (said on /diagnostics), then one per frame."""
    h = Harness(checkpoint, cloud_enabled=False)
    try:
        assert h.node.params.mask_method == 'motion'
        image, info = kitti[0]
        h.send(image, info, stamp_s=10.0)
        assert h.wait(lambda: h.received['depth/image'])
        assert h.wait(h.node.idle)
        assert h.node.motion_state == 'first_frame' and not h.received['moving_mask/image']
        status = {kv.key: kv.value for kv in h.node.diagnostic_status().values}
        assert status['motion_state'] == 'first_frame'
        for k, stamp in ((1, 10.1), (2, 10.2)):
            image, info = kitti[k]
            h.send(image, info, stamp_s=stamp)
            assert h.wait(lambda n=k + 1: len(h.received['depth/image']) == n)
        assert h.wait(lambda: len(h.received['moving_mask/image']) == 2)
        mask = image_to_array(h.received['moving_mask/image'][-1])
        assert mask.shape == image_to_array(h.received['depth/image'][-1]).shape
        assert set(np.unique(mask)) <= {0, 255}
        assert h.received['moving_mask/image'][-1].header.stamp.nanosec == 200_000_000
        assert h.node.motion_state != 'first_frame'
        assert h.node.with_mask == 2 and h.node.depth_only == 1
    finally:
        h.close()


@pytest.mark.slow
def test_odometry_that_the_images_contradict_gives_an_empty_mask(checkpoint, kitti):
    """use_odometry: odometry that stands still while the whole image moves is not trusted."""
    from nav_msgs.msg import Odometry
    h = Harness(checkpoint, cloud_enabled=False, use_odometry=True)
    try:
        assert h.node.params.camera_in_base == pytest.approx(
            (0.0, 0.0, 0.0, -1.5707963, 0.0, -1.5707963))
        odom = h.peer.create_publisher(Odometry, 'odom', QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE))
        assert h.wait(lambda: odom.get_subscription_count() > 0)
        for k, stamp in enumerate((20.0, 20.2)):
            msg = Odometry()
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp), round(stamp % 1 * 1e9)
            msg.pose.pose.orientation.w = 1.0
            odom.publish(msg)
            assert h.wait(lambda n=k + 1: len(h.node._odometry) == n)
            image, info = kitti[k]               # the images move: the odometry says not
            h.send(image, info, stamp_s=stamp)
            assert h.wait(lambda n=k + 1: len(h.received['depth/image']) == n)
        assert h.wait(lambda: len(h.received['moving_mask/image']) == 1)
        assert h.node.motion_state == 'uncertain'
        assert not image_to_array(h.received['moving_mask/image'][0]).any()
    finally:
        h.close()


@pytest.mark.slow
def test_a_still_camera_flags_the_one_thing_that_moves(checkpoint, kitti):
    """A parked robot: the same real frame twice, with one patch moved 40 px between them
    (a few pixels at the test model's small input size)."""
    h = Harness(checkpoint, cloud_enabled=False)
    try:
        image, info = kitti[0]
        frame = image_to_array(image)
        moved = frame.copy()
        rows, cols = slice(150, 250), slice(500, 700)
        moved[rows, cols.start + 40:cols.stop + 40] = frame[rows, cols]
        h.send(image, info, stamp_s=40.0)
        assert h.wait(lambda: h.received['depth/image'])
        h.send(array_to_image(moved, image.encoding), info, stamp_s=40.1)
        assert h.wait(lambda: len(h.received['moving_mask/image']) == 1)
        assert h.node.motion_state == 'still'
        mask = image_to_array(h.received['moving_mask/image'][0]) > 0
        small = np.zeros(frame.shape[:2], np.uint8)
        small[rows.start + 10:rows.stop - 10, cols.start + 60:cols.stop + 20] = 1
        patch = cv2.resize(small, mask.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        assert mask[patch].mean() > 0.5
        assert mask[~cv2.dilate(patch.astype(np.uint8), np.ones((9, 9))).astype(bool)].mean() \
            < 0.01
    finally:
        h.close()
