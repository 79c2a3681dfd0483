"""`svde-demo`: depth_node on a recorded bag, over loopback, with pictures and a summary.

Plays the bundled sample bag (real KITTI frames made by `svde-train make-bag`) into depth_node,
started as its own process as `ros2 launch` starts it (its log: depth_node.log), records every
output into an mcap bag (open it in Foxglove or play it to RViz), writes a PNG
panel every few frames (input | colorized depth | moving mask | bird's-eye view of the cloud)
and ends with rates and latencies.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import CompressedImage, Image, PointCloud2

from svde_ros.resources import default_model, demo_bag
from svde_ros.ros.bag_io import RELIABLE, BagRecorder, play_bag
from svde_ros.ros.depth_node import STAGES
from svde_ros.ros.image_conversions import compressed_to_rgb8, image_to_array
from svde_ros.ros.params import DEPTH_SOURCES, MASK_METHODS, SPEC
from svde_ros.ros.pointcloud import cloud_to_array

LOG = logging.getLogger('svde_demo')
DEFAULT_BAG = demo_bag()
DEFAULT_MODEL = default_model()
OUTPUTS = {'/camera/depth/image': 'sensor_msgs/msg/Image',
           '/camera/depth/camera_info': 'sensor_msgs/msg/CameraInfo',
           '/camera/moving_mask/image': 'sensor_msgs/msg/Image',
           '/camera/depth/colorized': 'sensor_msgs/msg/Image',
           '/camera/points': 'sensor_msgs/msg/PointCloud2'}
BEV_RANGE_M = 40.0
BEV_PIXELS = 240


def birds_eye(cloud: PointCloud2, range_m: float = BEV_RANGE_M) -> np.ndarray:
    """Top-down view of the cloud (x right, z forward; 0..range_m ahead), coloured."""
    points = cloud_to_array(cloud).reshape(-1, cloud.point_step // 4)
    points = points[np.isfinite(points[:, 2])]
    view = np.zeros((BEV_PIXELS, BEV_PIXELS, 3), np.uint8)
    scale = BEV_PIXELS / range_m
    u = (points[:, 0] * scale + BEV_PIXELS / 2).astype(int)
    v = (BEV_PIXELS - 1 - points[:, 2] * scale).astype(int)
    keep = (u >= 0) & (u < BEV_PIXELS) & (v >= 0) & (v < BEV_PIXELS)
    if points.shape[1] > 3:
        rgb = points[keep, 3].view(np.uint32)
        colors = np.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], 1).astype(np.uint8)
    else:
        colors = np.full((int(keep.sum()), 3), 255, np.uint8)
    view[v[keep], u[keep]] = colors
    ring = 10.0 if range_m > 20 else 1.0                # range rings every 10 m (1 m indoors)
    for k in range(1, int(range_m / ring)):
        cv2.circle(view, (BEV_PIXELS // 2, BEV_PIXELS - 1), int(k * ring * scale), (70, 70, 70))
    return view


# The outputs every processed frame has; the mask comes on the frames mask_method gives one
# (the motion mask: every frame but the first; SPIMO alone: those spimo_every_n picks).
FRAME_OUTPUTS = {'input', 'depth', 'colorized', 'points'}
# Longest wait for the node and the recorders to drain after playback (returns as soon as done).
DRAIN_TIMEOUT_S = 60.0
# Longest wait for depth_node's first status: its first start exports the model to ONNX.
NODE_START_TIMEOUT_S = 300.0
NODE_STOP_TIMEOUT_S = 20.0
NODE_LOG = 'depth_node.log'
# The node's diagnostics counters: received = processed + dropped + rejected once it is idle.
COUNTERS = ('received', 'processed', 'dropped', 'rejected')


class DemoError(RuntimeError):
    """The demo cannot run (no depth_node, or it did not start); one line says why."""


def panel(frames: dict[str, object], mask: object | None,
          range_m: float = BEV_RANGE_M) -> np.ndarray:
    """Input | colorized depth | mask (the newest one) | bird's-eye view, at a common height."""
    colorized = image_to_array(frames['colorized'])
    mask_rgb = (cv2.cvtColor(image_to_array(mask), cv2.COLOR_GRAY2RGB) if mask is not None
                else np.zeros_like(colorized))
    parts = [compressed_to_rgb8(frames['input']), colorized, mask_rgb,
             birds_eye(frames['points'], range_m)]
    height = 192
    resized = [cv2.resize(p, (int(p.shape[1] * height / p.shape[0]), height)) for p in parts]
    return np.concatenate(resized, axis=1)


class Observer:
    """Collects outputs by stamp, writes panels, measures end-to-end latency."""

    def __init__(self, node: rclpy.node.Node, out: Path, every: int,
                 range_m: float = BEV_RANGE_M) -> None:
        self.out, self.every, self.range_m = out, every, range_m
        self.frames: dict[tuple[int, int], dict[str, object]] = {}
        self.sent: dict[tuple[int, int], float] = {}
        self.latencies: list[float] = []
        self.completed = 0          # frames whose outputs all arrived (FRAME_OUTPUTS)
        self.panels = 0
        self.last_mask: object | None = None
        self.lock = threading.Lock()
        node.create_subscription(CompressedImage, '/camera/image_raw/compressed',
                                 self._on('input'), RELIABLE)
        node.create_subscription(Image, '/camera/depth/image', self._on('depth'), RELIABLE)
        node.create_subscription(Image, '/camera/depth/colorized', self._on('colorized'),
                                 RELIABLE)
        node.create_subscription(Image, '/camera/moving_mask/image', self._on('mask'),
                                 RELIABLE)
        node.create_subscription(PointCloud2, '/camera/points', self._on('points'), RELIABLE)

    def _on(self, kind: str):  # noqa: ANN202
        def store(msg: Any) -> None:
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            now = time.monotonic()
            with self.lock:
                if kind == 'input':
                    self.sent[key] = now
                elif kind == 'depth' and key in self.sent:
                    self.latencies.append(now - self.sent[key])
                if kind == 'mask':
                    self.last_mask = msg
                    return
                entry = self.frames.setdefault(key, {})
                entry[kind] = msg
                if set(entry) == FRAME_OUTPUTS:
                    index = self.completed + 1
                    self.frames.pop(key)
                    if index % self.every == 1 or self.every == 1:
                        path = self.out / f'panel_{index:03d}.png'
                        picture = panel(entry, self.last_mask, self.range_m)
                        cv2.imwrite(str(path), picture[..., ::-1])
                        self.panels += 1
                    # Counted once its panel is on disk: a reader that waits for `completed`
                    # never sees a frame whose panel is still being written.
                    self.completed = index
        return store


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class NodeStatus:
    """The newest diagnostics of the demo's depth_node: its counters and per-stage times.

    The node publishes them once a second; they are `settled` once two in a row report the same
    counts with nothing waiting (every frame received is processed, dropped or rejected).
    """

    def __init__(self, node: rclpy.node.Node, name: str) -> None:
        self.name, self.updates, self.settled = name, 0, False
        self.values: dict[str, str] = {}
        self._last: tuple[int, ...] | None = None
        self.lock = threading.Lock()
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on, 10)

    def _on(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self.name:
                values = {kv.key: kv.value for kv in status.values}
                counts = tuple(int(values.get(k, 0)) for k in COUNTERS)
                with self.lock:
                    self.values, self.updates = values, self.updates + 1
                    self.settled = counts == self._last and counts[0] == sum(counts[1:])
                    self._last = counts

    def restart(self) -> None:
        """Judge `settled` on statuses from now on only (e.g. once playback has ended)."""
        with self.lock:
            self._last, self.settled = None, False

    def count(self, key: str) -> int:
        """A counter of the newest status (0 before the first)."""
        with self.lock:
            return int(self.values.get(key, 0))


def start_node(args: argparse.Namespace) -> subprocess.Popen:
    """`depth_node` as its own process, started as `ros2 launch` starts it (DESIGN.md 5).

    The demo then measures the node as it runs on a robot, not beside the demo's own work in
    one Python process. Its log goes to depth_node.log in the output folder.
    """
    executable = shutil.which('depth_node', path=str(Path(sys.executable).parent)) \
        or shutil.which('depth_node')
    if executable is None:
        raise DemoError('depth_node is not on PATH: install the package (pip install -e .)')
    ros_args = ['-r', '__ns:=/camera', '-r', '__node:=depth_node', '-r', 'image:=image_raw',
                '-p', f'checkpoint:={args.checkpoint.resolve()}', '-p', f'backend:={args.backend}',
                '-p', 'compressed:=true', '-p', f'inference_threads:={args.threads}',
                # The player publishes reliably: nothing is lost in transport.
                '-p', 'input_reliability:=reliable']
    if args.cache_dir:
        ros_args += ['-p', f'engine_cache_dir:={Path(args.cache_dir).resolve()}']
    if args.spimo_every_n:
        ros_args += ['-p', f'spimo_every_n:={args.spimo_every_n}']
    if args.mask_method:
        ros_args += ['-p', f'mask_method:={args.mask_method}']
    if args.depth_source:
        ros_args += ['-p', f'depth_source:={args.depth_source}']
    env = {**os.environ, 'ROS_DOMAIN_ID': str(args.domain_id), 'PYTHONUNBUFFERED': '1'}
    log = (args.out / NODE_LOG).open('w')
    return subprocess.Popen([executable, '--ros-args', *ros_args], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def stop_node(process: subprocess.Popen) -> int:
    """Ctrl-C, as launch stops a node; its exit code (killed after NODE_STOP_TIMEOUT_S)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=NODE_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def run(args: argparse.Namespace) -> dict:
    """Play, process, record; returns the summary."""
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain_id)
    started = time.monotonic()
    helper = rclpy.create_node('svde_demo', context=context)
    status = NodeStatus(helper, 'camera/depth_node: depth')
    observer = Observer(helper, args.out, args.panel_every, args.view_range)
    recorder = BagRecorder(helper, args.out / 'outputs', OUTPUTS)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(helper)
    threading.Thread(target=executor.spin, daemon=True).start()
    process = start_node(args)
    try:
        # Its first status comes once the model is loaded (a first start exports it to ONNX).
        if not _wait_until(lambda: status.updates > 0 or process.poll() is not None,
                           NODE_START_TIMEOUT_S) or process.poll() is not None:
            raise DemoError(f'depth_node did not start (exit code {process.poll()}); see '
                            f'{args.out / NODE_LOG}')
        LOG.info('depth_node ready in %.1f s (%s)', time.monotonic() - started,
                 status.values.get('backend'))
        played = play_bag(helper, args.bag, {'/camera/image_raw/compressed':
                                             '/camera/image_raw/compressed',
                                             '/camera/camera_info': '/camera/camera_info'},
                          args.rate, wait_for_subscribers_s=10.0)
        status.restart()
        # Read the counters once the node reports the same counts twice with nothing waiting,
        # every depth image it published has reached the recorder, and the observer has all
        # outputs of every processed frame (the cloud comes last). The limits only bound a lost
        # message: each wait ends as soon as its condition holds.
        _wait_until(lambda: status.settled, DRAIN_TIMEOUT_S)
        _wait_until(lambda: recorder.counts.get('/camera/depth/image', 0)
                    >= status.count('processed'), DRAIN_TIMEOUT_S)
        _wait_until(lambda: observer.completed >= status.count('processed'), DRAIN_TIMEOUT_S)
    finally:
        exit_code = stop_node(process)
    # No callback runs after this (shutdown waits for those in flight), so the counters below
    # are final: `panels_written` is what is on disk, whatever arrived late.
    executor.shutdown()
    values = status.values
    summary = {
        'messages_played': played, 'frames_processed': int(values['processed']),
        'frames_dropped': int(values['dropped']), 'frames_rejected': int(values['rejected']),
        'backend': values['backend'], 'node_exit_code': exit_code,
        'panels_written': observer.panels, 'inference_threads': args.threads,
        'spimo_every_n': args.spimo_every_n or SPEC['spimo_every_n'][0],
        'mask_method': values.get('mask_method'),
        'depth_source': values.get('depth_source'),
        'motion_state': values.get('motion_state'),
        'fused_share': values.get('fused_share'),
        'frames_with_mask': int(values.get('frames_with_mask', 0)),
        'latency_ms_p50': float(np.percentile(observer.latencies, 50) * 1000)
        if observer.latencies else None,
        'latency_ms_p95': float(np.percentile(observer.latencies, 95) * 1000)
        if observer.latencies else None,
        'recorded': recorder.counts, 'outputs_bag': str(args.out / 'outputs'),
        # Where a frame's time goes inside the node (diagnostics' per-stage medians).
        'stage_ms_p50': {key[:-len('_ms_p50')]: float(value) for key, value in values.items()
                         if key.endswith('_ms_p50') and key[:-len('_ms_p50')] in STAGES},
    }
    recorder.close()
    helper.destroy_node()
    rclpy.try_shutdown(context=context)
    (args.out / 'summary.json').write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point of `svde-demo`."""
    parser = argparse.ArgumentParser(prog='svde-demo', description=__doc__)
    parser.add_argument('--bag', type=Path, default=DEFAULT_BAG)
    parser.add_argument('--checkpoint', type=Path, default=DEFAULT_MODEL)
    parser.add_argument('--backend', default='auto')
    parser.add_argument('--cache-dir', type=Path,
                        help='exported models and engines (default: ~/.cache/svde_ros)')
    parser.add_argument('--out', type=Path, default=Path('runs/node_demo'))
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed factor')
    parser.add_argument('--panel-every', type=int, default=5)
    parser.add_argument('--view-range', type=float, default=BEV_RANGE_M,
                        help="metres ahead in the panels' bird's-eye view (e.g. 5 indoors)")
    parser.add_argument('--domain-id', type=int, default=77)
    parser.add_argument('--force', action='store_true', help='replace an existing --out')
    parser.add_argument('--threads', type=int, default=0,
                        help="the node's inference_threads (0 = all cores but one)")
    parser.add_argument('--spimo-every-n', type=int, default=0,
                        help="the node's spimo_every_n (0 = the node's default)")
    parser.add_argument('--mask-method', choices=MASK_METHODS,
                        help="the node's mask_method (default: the node's default)")
    parser.add_argument('--depth-source', choices=DEPTH_SOURCES,
                        help="the node's depth_source (default: the node's default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s',
                        datefmt='%H:%M:%S')
    if (args.out / 'outputs').exists():
        if not args.force:
            LOG.error('%s holds an earlier demo; pass --force to replace it', args.out)
            return 2
        # Only what a demo writes goes; anything else in the folder is the user's.
        import shutil
        shutil.rmtree(args.out / 'outputs')
        for old in [*args.out.glob('panel_*.png'), args.out / 'summary.json',
                    args.out / NODE_LOG]:
            old.unlink(missing_ok=True)
    for path, what in ((args.bag, 'sample bag'), (args.checkpoint, 'model')):
        if not path.exists():
            LOG.error('%s not found: %s', what, path)
            return 2
    try:
        summary = run(args)
    except DemoError as err:
        LOG.error('%s', err)
        return 1
    LOG.info('summary:\n%s', json.dumps(summary, indent=2))
    LOG.info('panels: %s/panel_*.png, outputs bag: %s', args.out, summary['outputs_bag'])
    return 0 if summary['frames_processed'] else 1


if __name__ == '__main__':
    sys.exit(main())
