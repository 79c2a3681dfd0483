"""depth_node: dense depth, moving-object masks and point clouds from one camera.

Subscribes (relative names, remap in launch):
    image (sensor_msgs/Image, any encoding in image_conversions.ENCODINGS), or
    image/compressed (sensor_msgs/CompressedImage) when `compressed` is true;
    odom (nav_msgs/Odometry), with `use_odometry`: the robot's motion (metric fused depth, the
    motion mask);
    camera_info (sensor_msgs/CameraInfo): K of the image; the newest one within
    `camera_info_max_delay_s` of an image is used (an image waits up to
    camera_sync.INFO_WAIT_S for it; ros/camera_sync.py);
    `fallback_*` gives K until one arrives.
Publishes (header copied from the image: stamp and frame_id):
    depth/image (Image 32FC1 metres, NaN invalid; or 16UC1 millimetres, 0 invalid), at the
    network's input size (with `depth_source: fused`, the default: the depth triangulated from
    the camera's own motion blended with the network's, svde_ros/motion; metric with
    `use_odometry`; the network's at the last known scale while the camera is still, only
    turns or its motion is uncertain), with its image_transport partner depth/camera_info
    (CameraInfo of that size, which depth_image_proc and RViz's DepthCloud pair with it);
    moving_mask/image (Image mono8, 255 = moving; `mask_method`: the motion mask, SPIMO or
    both; nothing on a stream's first frame, all zeros where the motion is uncertain) with
    moving_mask/camera_info; points (PointCloud2 x, y, z float32
    [+ rgb], organized with NaN or dense, decimated); depth/colorized (Image rgb8, near bright,
    fixed range [min_depth_m, max_depth_m]); /diagnostics (rate, latency, per-stage times,
    backend, dropped frames, the motion's state and source, the share of fused pixels).
Parameters: see svde_ros/ros/params.py (also config/depth.yaml).

Callbacks only store the newest frame; a worker thread does the inference, so the executor never
blocks and nothing queues: frames arriving while one is processed replace each other and are
counted as dropped.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from svde_ros.colorize import colorize_depth
from svde_ros.geometry import Intrinsics, pose_from_xyz_rpy, transform_matrix
from svde_ros.inference.backend import Backend, BackendError, DepthResult
from svde_ros.inference.factory import create_backend
from svde_ros.motion.ego_motion import FIRST_FRAME
from svde_ros.motion.mask import MotionMaskConfig
from svde_ros.motion.stream import FrameGeometry, Measured, MotionGeometry
from svde_ros.resources import default_model
from svde_ros.ros import params as node_params
from svde_ros.ros.camera_sync import CameraSync
from svde_ros.ros.image_conversions import (
    ImageConversionError,
    array_to_image,
    compressed_to_rgb8,
    depth_to_image,
    image_to_rgb8,
)
from svde_ros.ros.pointcloud import CloudPacker, depth_to_cloud
from svde_ros.ros.qos import profile

try:   # every ROS install has tf2_ros; pip-only installs do not (camera_in_base then)
    import tf2_ros
except ImportError:
    tf2_ros = None

try:   # Iron and later
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:   # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

WARN_PERIOD_S = 10.0
# How long shutdown waits for a frame in inference to finish.
WORKER_STOP_S = 30.0
# Frames over which rate and latency are reported (about 3-10 s at camera rates).
RATE_WINDOW = 100
# Frames over which the node's own overhead is kept (for benchmarks reading it).
OVERHEAD_WINDOW = 1000
# Diagnostics (diagnostic_updater's frequency semantics): the rate is over the last RATE_SPAN_S;
# a node that has run and gets no frame for STALE_S reports ERROR, one that never got one WARN.
RATE_SPAN_S = 5.0
STALE_S = 3.0
# Odometry poses kept for the motion mask (a second at 100 Hz), and how far from a frame's
# stamp the nearest one may be.
ODOM_HISTORY = 100
ODOM_MAX_GAP_S = 0.05
# Where a frame's time goes, in order (reported per stage in diagnostics, median in ms).
# 'motion' is the flow and ego-motion, which run beside the network (on the other core); the
# time reported is what the frame waited for them after its inference.
STAGES = ('decode', 'undistort', 'inference', 'motion', 'fusion', 'depth', 'colorize', 'mask',
          'cloud')


class RosLogHandler(logging.Handler):
    """Python logging of svde_ros into the node's logger.

    Backend choice, ONNX export and engine build then reach the console and /rosout like the
    node's own messages.
    """

    def __init__(self, logger: Any) -> None:
        super().__init__(logging.INFO)
        self.ros_logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.levelno >= logging.ERROR:
            self.ros_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self.ros_logger.warning(text)
        else:
            self.ros_logger.info(text)


@dataclass
class Frame:
    """The newest input waiting for the worker."""

    msg: Image | CompressedImage
    received: float
    waited: float = 0.0   # s between arrival and the worker taking it


def camera_info_for(K: Intrinsics, header: object) -> CameraInfo:
    """CameraInfo of an undistorted pinhole camera with intrinsics K."""
    info = CameraInfo()
    info.header = header
    info.width, info.height = K.width, K.height
    info.distortion_model = 'plumb_bob'
    info.d = [0.0] * 5
    info.k = K.matrix().reshape(-1).tolist()
    info.r = np.eye(3).reshape(-1).tolist()
    info.p = np.hstack([K.matrix(), np.zeros((3, 1))]).reshape(-1).tolist()
    return info


class DepthNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        """Keyword arguments go to rclpy's Node (context, namespace, parameter_overrides...)."""
        super().__init__('depth_node', **kwargs)
        # Created first: rclpy may destroy a node whose constructor failed half-way.
        self._stop = threading.Event()
        self._log_handler: logging.Handler = logging.NullHandler()
        self._worker: threading.Thread | None = None
        self._to_close: Backend | None = None
        self._motion_pool = ThreadPoolExecutor(1, thread_name_prefix='motion')
        self._log_handler = RosLogHandler(self.get_logger())
        logging.getLogger('svde_ros').addHandler(self._log_handler)
        logging.getLogger('svde_ros').setLevel(logging.INFO)
        self.params = node_params.declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        p = self.params
        started = time.monotonic()
        size = (p.input_height, p.input_width) if p.input_height and p.input_width else None
        checkpoint = p.checkpoint
        if not checkpoint and not p.onnx:
            checkpoint = str(default_model())
            self.get_logger().info(f'no checkpoint/onnx given: using the bundled demo model '
                                   f'{checkpoint} (see docs/MODEL_CARD.md)')
        self.backend: Backend
        self.backend, why = create_backend(p.backend, checkpoint, p.onnx, p.precision,
                                           p.spimo_enabled, p.engine_cache_dir,
                                           threads=p.inference_threads, input_size=size)
        self._to_close = self.backend
        self.backend.warm_up()
        self.get_logger().info(f'backend {why}; model ready in '
                               f'{time.monotonic() - started:.1f} s')
        if self.backend.spimo is not None:
            s = self.backend.spimo
            self.get_logger().info(f'SPIMO as the model file gives it: delta {s.delta}, pass '
                                   f'scale {s.scale}, threshold {s.threshold}'
                                   + (f' (overridden: {p.spimo_threshold})'
                                      if p.spimo_threshold > 0 else ''))
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._pending: Frame | None = None
        self.processed = self.dropped = self.rejected = self.received = 0
        self.with_mask = self.depth_only = 0   # frames with a mask published, without
        self.geometry = MotionGeometry(self._motion_config())
        self.motion_state = 'not run'           # the motion geometry's last state
        self.motion_source = ''
        self.fused_share = 0.0
        self.road = 'none'
        self._odometry: deque[tuple[float, np.ndarray]] = deque(maxlen=ODOM_HISTORY)
        self._camera_in_base = pose_from_xyz_rpy(p.camera_in_base)
        self._base_frame = ''                    # the odometry's child frame
        self._camera_offsets: dict[tuple[str, str], np.ndarray] = {}
        self._tf_buffer = None
        if p.use_odometry and tf2_ros is not None:
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self.busy = False         # a frame is in the worker (neither processed nor rejected)
        self._packer = CloudPacker()
        self._latencies: deque[float] = deque(maxlen=RATE_WINDOW)
        self.overheads: deque[float] = deque(maxlen=OVERHEAD_WINDOW)  # s/frame, not inference
        self._stamps: deque[float] = deque(maxlen=RATE_WINDOW)
        self.stage_times: dict[str, deque[float]] = {k: deque(maxlen=RATE_WINDOW)
                                                     for k in STAGES}
        self._started_at = time.monotonic()
        self._frame_id = ''
        self._last_warning: dict[str, float] = {}
        self._make_publishers(profile(p.output_reliability, p.output_depth))
        self._make_subscriptions(profile(p.input_reliability, p.input_depth), p.compressed)
        self._worker = threading.Thread(target=self._work, name='depth_worker', daemon=True)
        self._worker.start()
        self.create_timer(1.0, self._publish_diagnostics)

    def _make_subscriptions(self, qos: QoSProfile, compressed: bool) -> None:
        events = SubscriptionEventCallbacks(incompatible_qos=self._incompatible_qos)
        image_topic = self.resolve_topic_name('image')
        # image_pipeline naming: image_rect* frames are already undistorted; anything else
        # (image_raw, image_color, ...) is undistorted here with the camera_info's D, as the
        # training loader does for bags.
        choice = self.params.input_rectified
        self.rectified = choice == 'true' or (
            choice == 'auto' and image_topic.rsplit('/', 1)[-1].startswith('image_rect'))
        self.sync = CameraSync(self.params.camera_info_max_delay_s, self.rectified,
                               self._fallback_intrinsics(),
                               lambda: self.sub_info.get_publisher_count())
        self.get_logger().info(f'input {image_topic}{"/compressed" if compressed else ""}: '
                               + ('rectified (K from P, no undistortion)' if self.rectified
                                  else 'undistorted here when camera_info has a non-zero D'))
        if compressed:
            # image_transport naming: the compressed stream of topic T is T/compressed, so the
            # one `image` remap serves both (`-r image:=/camera/image_raw` reads
            # /camera/image_raw/compressed).
            topic = f'{image_topic}/compressed'
            self.create_subscription(CompressedImage, topic, self._on_image, qos,
                                     event_callbacks=events)
        else:
            self.create_subscription(Image, 'image', self._on_image, qos,
                                     event_callbacks=events)
        self.sub_info = self.create_subscription(CameraInfo, 'camera_info', self.sync.add, qos,
                                                 event_callbacks=events)
        if self.params.use_odometry:
            self.create_subscription(Odometry, 'odom', self._on_odometry, qos,
                                     event_callbacks=events)

    def _make_publishers(self, qos: QoSProfile) -> None:
        events = PublisherEventCallbacks(incompatible_qos=self._incompatible_qos)
        self.pub_depth = self.create_publisher(Image, 'depth/image', qos, event_callbacks=events)
        self.pub_info = self.create_publisher(CameraInfo, 'depth/camera_info', qos,
                                              event_callbacks=events)
        self.pub_mask = self.create_publisher(Image, 'moving_mask/image', qos,
                                              event_callbacks=events)
        self.pub_mask_info = self.create_publisher(CameraInfo, 'moving_mask/camera_info', qos,
                                                   event_callbacks=events)
        self.pub_points = self.create_publisher(PointCloud2, 'points', qos,
                                                event_callbacks=events)
        self.pub_color = self.create_publisher(Image, 'depth/colorized', qos,
                                               event_callbacks=events)
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)

    def _fallback_intrinsics(self) -> tuple[float, float, float, float] | None:
        p = self.params
        values = (p.fallback_fx, p.fallback_fy, p.fallback_cx, p.fallback_cy)
        return values if p.fallback_fx > 0 and p.fallback_fy > 0 else None

    def _motion_config(self) -> MotionMaskConfig:
        return MotionMaskConfig(threshold=self.params.motion_threshold,
                                interval_s=self.params.motion_interval_s)

    def _on_set_parameters(self, changed: list) -> object:
        result, self.params = node_params.validate_update(changed, self.params)
        self.sync.max_delay_s = self.params.camera_info_max_delay_s
        self.geometry.config = self._motion_config()
        return result

    def _incompatible_qos(self, event: object) -> None:
        self._warn('qos', 'incompatible QoS with a peer (policy '
                   f'{getattr(event, "last_policy_kind", "?")}): check reliability of the '
                   'camera driver or the display against input_/output_reliability')

    def _warn(self, key: str, text: str) -> None:
        """Throttled warning: once per WARN_PERIOD_S per kind of problem."""
        now = time.monotonic()
        if now - self._last_warning.get(key, -WARN_PERIOD_S) >= WARN_PERIOD_S:
            self._last_warning[key] = now
            self.get_logger().warning(text)

    def _on_odometry(self, msg: Odometry) -> None:
        T = transform_matrix(msg.pose.pose.position, msg.pose.pose.orientation)
        with self._lock:
            self._base_frame = msg.child_frame_id.lstrip('/')
            self._odometry.append((msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec, T))

    def _camera_offset(self) -> np.ndarray:
        """T_base_camera, the camera's place on the robot.

        TF from the odometry's child frame to the images' frame_id (looked up once per pair of
        frames: a camera's mount is static) where tf2_ros is there, else `camera_in_base`.
        """
        frames = (self._base_frame, self._frame_id.lstrip('/'))
        if self._tf_buffer is None or not all(frames) or frames[0] == frames[1]:
            return self._camera_in_base if frames[0] != frames[1] else np.eye(4)
        if frames not in self._camera_offsets:
            try:
                tf = self._tf_buffer.lookup_transform(*frames, rclpy.time.Time())
            except tf2_ros.TransformException as err:
                self._warn('tf', f'no TF from {frames[0]} to {frames[1]} ({err}): the camera '
                           'is placed by camera_in_base')
                return self._camera_in_base
            offset = transform_matrix(tf.transform.translation, tf.transform.rotation)
            self._camera_offsets[frames] = offset
            self.get_logger().info(f'camera {frames[1]} in {frames[0]} from TF: xyz '
                                   f'{np.round(offset[:3, 3], 3).tolist()}')
        return self._camera_offsets[frames]

    def _camera_motion(self, then: float, now: float) -> np.ndarray | None:
        """T_prev_cur of the camera between two stamps from the odometry, or None."""
        with self._lock:
            poses = list(self._odometry)
        ends = []
        for stamp in (then, now):
            gap, pose = min(((abs(t - stamp), T) for t, T in poses), default=(np.inf, None),
                            key=lambda item: item[0])
            if gap > ODOM_MAX_GAP_S or pose is None:
                return None
            ends.append(pose)
        C = self._camera_offset()
        return np.linalg.inv(C) @ np.linalg.inv(ends[0]) @ ends[1] @ C

    def _on_image(self, msg: Image | CompressedImage) -> None:
        with self._lock:
            self.received += 1
            if self._pending is not None:
                self.dropped += 1
            self._pending = Frame(msg, time.monotonic())
        self._ready.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            if not self._ready.wait(0.1):
                continue
            with self._lock:
                frame, self._pending = self._pending, None
                self._ready.clear()
                self.busy = frame is not None
            if frame is None:
                continue
            frame.waited = time.monotonic() - frame.received
            # One bad frame must never stop the node: every failure is reported (throttled,
            # counted in diagnostics) and the next frame is processed normally.
            try:
                self._process(frame)
            except (ImageConversionError, ValueError) as err:
                self.rejected += 1
                self._warn(getattr(err, 'kind', type(err).__name__), f'frame dropped: {err}')
            except Exception as err:  # noqa: BLE001 - the per-frame boundary, see above
                if self._stop.is_set() or not self.context.ok():
                    return   # shutting down: the context went while a frame was in flight
                self.rejected += 1
                self._warn('error', f'frame dropped after an unexpected error: {err!r}')
            finally:
                with self._lock:
                    self.busy = False

    def _process(self, frame: Frame) -> None:
        msg = frame.msg
        times: dict[str, float] = {}
        clock = time.monotonic()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.monotonic()
            times[stage] = times.get(stage, 0.0) + now - clock
            clock = now
        rgb = compressed_to_rgb8(msg) if isinstance(msg, CompressedImage) else image_to_rgb8(msg)
        lap('decode')
        fallbacks = self.sync.fallbacks
        camera = self.sync.model_for(msg.header.stamp, rgb.shape[1], rgb.shape[0])
        if self.sync.fallbacks > fallbacks:
            self._warn('fallback', 'using fallback_* intrinsics (no matching camera_info)')
        rgb, K = camera.undistort(rgb), camera.intrinsics
        lap('undistort')
        p = self.params
        # A mask is made only for someone who will receive it; the SPIMO passes only on
        # their turn under spimo_every_n; every other frame takes the depth-only graph.
        want_mask = self.pub_mask.get_subscription_count() > 0
        want_spimo = (want_mask and p.mask_method != 'motion' and self.backend.spimo is not None
                      and p.spimo_enabled and self.processed % p.spimo_every_n == 0)
        fused = p.depth_source == 'fused'
        self._frame_id = msg.header.frame_id     # the camera's frame, for its TF on the robot
        # The flow and the ego-motion need no depth: they run beside the network.
        motion = None
        if fused or (want_mask and p.mask_method != 'spimo'):
            K_small = K.resized(self.backend.input_width, self.backend.input_height)
            motion = self._motion_pool.submit(
                self.geometry.measure, rgb, msg.header.stamp.sec + 1e-9 *
                msg.header.stamp.nanosec, K_small.matrix(),
                (self.backend.input_height, self.backend.input_width),
                self._camera_motion if p.use_odometry else None)
        result: DepthResult = self.backend.infer(rgb, K, with_mask=want_spimo)
        lap('inference')
        geometry: FrameGeometry | None = None
        if motion is not None and fused:
            geometry = self._apply_motion(motion, result.depth, True, lap)
        depth = geometry.depth if geometry is not None else result.depth
        depth[~((depth >= p.min_depth_m) & (depth <= p.max_depth_m))] = np.nan
        header = msg.header
        self._frame_id = header.frame_id
        info = camera_info_for(result.intrinsics, header)
        if self.pub_depth.get_subscription_count():
            self.pub_depth.publish(depth_to_image(depth, p.depth_encoding, header))
        if self.pub_info.get_subscription_count():
            self.pub_info.publish(info)
        lap('depth')
        small_rgb: np.ndarray | None = None
        if self.pub_color.get_subscription_count():
            self.pub_color.publish(array_to_image(
                colorize_depth(depth, p.min_depth_m, p.max_depth_m), 'rgb8', header))
        lap('colorize')
        if motion is not None and geometry is None:
            # The network's depth is out already; the mask's geometry comes after it.
            geometry = self._apply_motion(motion, result.depth, False, lap)
        mask = self._moving_mask(geometry, result) if want_mask else None
        if mask is not None:
            self.pub_mask.publish(array_to_image(np.where(mask, 255, 0).astype(np.uint8),
                                                 'mono8', header))
            if self.pub_mask_info.get_subscription_count():
                self.pub_mask_info.publish(info)
            self.with_mask += 1
        else:
            self.depth_only += 1
        lap('mask')
        if p.cloud_enabled and self.pub_points.get_subscription_count():
            if p.cloud_rgb:
                small_rgb = result.image
            self.pub_points.publish(depth_to_cloud(depth, result.intrinsics.matrix(), header,
                                                   small_rgb, p.cloud_decimation,
                                                   p.cloud_organized, self._packer))
        lap('cloud')
        self.processed += 1
        now = time.monotonic()
        for stage, seconds in times.items():
            self.stage_times[stage].append(seconds)
        self._latencies.append(now - frame.received)
        self.overheads.append(now - frame.received - times['inference'] - frame.waited)
        self._stamps.append(now)

    def _apply_motion(self, motion: Future[Measured], depth: np.ndarray, fused: bool,
                      lap: Callable[[str], None]) -> FrameGeometry:
        """The frame's motion geometry, once its flow and ego-motion are in.

        They run beside the network; this adds the mask and, with `fused`, the fused depth,
        and keeps the state for diagnostics.
        """
        measured = motion.result()
        lap('motion')
        geometry = self.geometry.apply(measured, depth, fused)
        self.motion_state, self.motion_source = geometry.state, geometry.ego.source
        self.fused_share = geometry.fused_share
        self.road = 'none' if geometry.road is None else \
            f'judged by (parallax error {geometry.road.error:.2f})'
        lap('fusion')
        return geometry

    def _moving_mask(self, geometry: FrameGeometry | None,
                     result: DepthResult) -> np.ndarray | None:
        """The mask `mask_method` asks for (bool, at the depth's size), or None for none.

        None on the motion geometry's first frame (nothing to compare with) unless SPIMO gives
        one, and for SPIMO alone on frames that are not its turn. An uncertain motion flags
        nothing (all zeros).
        """
        p = self.params
        masks = []
        if p.mask_method != 'spimo' and geometry is not None:
            if geometry.mask is not None:
                masks.append(geometry.mask)
            elif geometry.state != FIRST_FRAME:
                masks.append(np.zeros(result.depth.shape, bool))   # no verdict: flag nothing
        if result.dispersion is not None:
            threshold = p.spimo_threshold or self.backend.spimo.threshold  # type: ignore
            masks.append(result.dispersion > threshold)
        return np.logical_or.reduce(masks) if masks else None

    def idle(self) -> bool:
        """No frame waiting and none in the worker: the counters are final for now."""
        with self._lock:
            return self._pending is None and not self.busy

    def diagnostic_status(self, now: float | None = None) -> DiagnosticStatus:
        """The node's status, with diagnostic_updater's frequency semantics.

        Named after the node's full name (two cameras are two entries) with the camera's
        frame_id as hardware_id. The rate counts frames processed in the last RATE_SPAN_S; a
        node that has processed frames and then gets none for STALE_S is ERROR (a stopped
        camera), one still waiting for its first frame WARN.
        """
        now = time.monotonic() if now is None else now
        name = self.get_fully_qualified_name()
        status = DiagnosticStatus(name=f'{name.lstrip("/")}: depth',
                                  hardware_id=self._frame_id or name)
        recent = [t for t in self._stamps if now - t <= RATE_SPAN_S]
        span = min(RATE_SPAN_S, now - self._started_at)
        rate = len(recent) / span if span > 0 else 0.0
        idle = now - self._stamps[-1] if self._stamps else now - self._started_at
        if not self.processed:
            status.level, status.message = DiagnosticStatus.WARN, 'waiting for images'
        elif idle > STALE_S:
            status.level = DiagnosticStatus.ERROR
            status.message = f'no frame processed for {idle:.1f} s'
        else:
            status.level, status.message = DiagnosticStatus.OK, 'running'
        latency = float(np.median(self._latencies)) * 1000 if self._latencies else 0.0
        overhead = float(np.median(self.overheads)) * 1000 if self.overheads else 0.0
        values = [
            ('backend', self.backend.name), ('rate_hz', f'{rate:.2f}'),
            ('latency_ms_p50', f'{latency:.1f}'), ('overhead_ms_p50', f'{overhead:.2f}'),
            ('received', str(self.received)), ('processed', str(self.processed)),
            ('dropped', str(self.dropped)), ('rejected', str(self.rejected)),
            ('camera_info_reused', str(self.sync.reused)),
            ('mask_method', self.params.mask_method),
            ('depth_source', self.params.depth_source), ('motion_state', self.motion_state),
            ('motion_source', self.motion_source),
            ('fused_share', f'{self.fused_share:.3f}'), ('road', self.road),
            ('depth_scale', f'{self.geometry.scale:.4g}'
             + (' (metric: odometry)' if self.geometry.metric else '')),
            ('baseline_s', f'{self.geometry.baseline_s:.3f}'),
            ('frames_with_mask', str(self.with_mask)),
            ('frames_depth_only', str(self.depth_only))]
        values += [(f'{stage}_ms_p50', f'{float(np.median(t)) * 1000:.1f}')
                   for stage, t in self.stage_times.items() if t]
        status.values = [KeyValue(key=k, value=v) for k, v in values]
        return status

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray(status=[self.diagnostic_status()])
        array.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(array)

    def destroy_node(self) -> None:
        """Stop the worker, free the backend, then the node (safe after a failed start)."""
        self._stop.set()
        if self._worker is not None:
            # Let a frame in inference finish: a process that exits while torch still runs
            # in another thread aborts ("terminate called without an active exception").
            self._worker.join(timeout=WORKER_STOP_S)
            if self._worker.is_alive():
                self.get_logger().warning(f'inference did not finish within {WORKER_STOP_S} s '
                                          'of shutdown')
            self._worker = None
        self._motion_pool.shutdown(wait=True)
        if self._to_close is not None:
            self._to_close.close()
            self._to_close = None
        logging.getLogger('svde_ros').removeHandler(self._log_handler)
        super().destroy_node()


# What to install for a module the node imports only when its backend is used.
INSTALL_HINTS = {'onnxruntime': 'pip install onnxruntime (or rosdep: python3-onnxruntime)',
                 'onnx': 'pip install onnx', 'tensorrt': 'pip install tensorrt',
                 'torch': 'pip install torch (the CPU or CUDA build for this machine)'}


def missing_module_line(err: ImportError) -> str:
    """One line for a module the node needs but cannot import, with how to install it."""
    name = (err.name or str(err)).split('.')[0]
    hint = INSTALL_HINTS.get(name, f'install the Python package that provides {name}')
    return f'cannot import {name} ({err}); {hint}'


def main(args: list[str] | None = None) -> int:
    """`ros2 run svde_ros depth_node`; returns the exit code.

    0 after a normal shutdown (Ctrl-C, launch stopping it); 1 after a fatal start-up error
    (missing or unreadable model, bad backend, a parameter out of range), logged as one FATAL
    line, so launch, systemd and supervisors see the failure.
    """
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = DepthNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (BackendError, ValueError) as err:
        rclpy.logging.get_logger('depth_node').fatal(str(err))
        code = 1
    except ImportError as err:
        rclpy.logging.get_logger('depth_node').fatal(missing_module_line(err))
        code = 1
    except RuntimeError:
        # A SIGINT that lands between two waits of the executor shuts the context down
        # before the next wait set is made, and rclpy raises RCLError ("the given context
        # is not valid") instead of ExternalShutdownException: still a normal shutdown.
        # Seen under load in test_node_process (exit code 1 and a traceback).
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
