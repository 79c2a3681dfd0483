"""`svde-demo`: depth_node on a recorded bag, over loopback, with pictures and a summary.

Plays the bundled sample bag (real KITTI frames made by `svde-train make-bag`) into depth_node,
records every output into an mcap bag (open it in Foxglove or play it to RViz), writes a PNG
panel every few frames (input | colorized depth | moving mask | bird's-eye view of the cloud)
and ends with rates and latencies.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image, PointCloud2

from svde_ros.resources import default_model, demo_bag
from svde_ros.ros.bag_io import RELIABLE, BagRecorder, play_bag
from svde_ros.ros.depth_node import DepthNode
from svde_ros.ros.image_conversions import compressed_to_rgb8, image_to_array
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


# The outputs every processed frame has; the mask comes on the frames spimo_every_n picks.
FRAME_OUTPUTS = {'input', 'depth', 'colorized', 'points'}
# Longest wait for the node and the recorders to drain after playback (returns as soon as done).
DRAIN_TIMEOUT_S = 60.0


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


def run(args: argparse.Namespace) -> dict:
    """Play, process, record; returns the summary."""
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain_id)
    started = time.monotonic()
    # As launch runs it: in the camera's namespace, `image` remapped to the driver's topic;
    # with `compressed` the node reads <image>/compressed (image_transport naming).
    node = DepthNode(context=context, namespace='camera',
                     cli_args=['--ros-args', '-r', 'image:=image_raw'], parameter_overrides=[
                         Parameter('checkpoint', value=str(args.checkpoint)),
                         Parameter('backend', value=args.backend),
                         Parameter('engine_cache_dir', value=str(args.cache_dir or '')),
                         Parameter('compressed', value=True),
                         Parameter('inference_threads', value=args.threads),
                         *([Parameter('spimo_every_n', value=args.spimo_every_n)]
                           if args.spimo_every_n else []),
                         # The player publishes reliably: nothing is lost in transport.
                         Parameter('input_reliability', value='reliable')])
    LOG.info('depth_node ready in %.1f s (%s)', time.monotonic() - started, node.backend.name)
    helper = rclpy.create_node('svde_demo', context=context)
    observer = Observer(helper, args.out, args.panel_every, args.view_range)
    recorder = BagRecorder(helper, args.out / 'outputs', OUTPUTS)
    # The node spins on its own executor, as `depth_node` does in its process: the demo's own
    # callbacks (panels, the recorder) must not delay its image callback, or frames are
    # replaced in its one-deep input queue before it ever sees them.
    node_executor = SingleThreadedExecutor(context=context)
    node_executor.add_node(node)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(helper)
    for spinning in (node_executor, executor):
        threading.Thread(target=spinning.spin, daemon=True).start()
    played = play_bag(helper, args.bag, {'/camera/image_raw/compressed':
                                         '/camera/image_raw/compressed',
                                         '/camera/camera_info': '/camera/camera_info'},
                      args.rate, wait_for_subscribers_s=10.0)
    # Read the counters only once the node is idle (no frame waiting or in the worker) and
    # every depth image it published has reached the recorder: a summary read while a frame
    # is between `publish` and its count disagrees with itself.
    # The limits only bound a lost message: each wait ends as soon as its condition holds, and
    # a loaded machine can take seconds to deliver the last frame's outputs.
    _wait_until(node.idle, DRAIN_TIMEOUT_S)
    _wait_until(lambda: recorder.counts.get('/camera/depth/image', 0) >= node.processed,
                DRAIN_TIMEOUT_S)
    # ... and the observer has all outputs of every processed frame (the cloud comes last).
    _wait_until(lambda: observer.completed >= node.processed, DRAIN_TIMEOUT_S)
    # No callback runs after this (shutdown waits for those in flight), so the counters below
    # are final: `panels_written` is what is on disk, whatever arrived late.
    executor.shutdown()
    node_executor.shutdown()
    summary = {
        'messages_played': played, 'frames_processed': node.processed,
        'frames_dropped': node.dropped, 'frames_rejected': node.rejected,
        'backend': node.backend.name, 'panels_written': observer.panels,
        'inference_threads': args.threads, 'spimo_every_n': node.params.spimo_every_n,
        'latency_ms_p50': float(np.percentile(observer.latencies, 50) * 1000)
        if observer.latencies else None,
        'latency_ms_p95': float(np.percentile(observer.latencies, 95) * 1000)
        if observer.latencies else None,
        'recorded': recorder.counts, 'outputs_bag': str(args.out / 'outputs'),
        # Where a frame's time goes inside the node (diagnostics' per-stage medians).
        'stage_ms_p50': {stage: round(float(np.median(times)) * 1000, 1)
                         for stage, times in node.stage_times.items() if times},
    }
    recorder.close()
    node.destroy_node()
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
        for old in [*args.out.glob('panel_*.png'), args.out / 'summary.json']:
            old.unlink(missing_ok=True)
    for path, what in ((args.bag, 'sample bag'), (args.checkpoint, 'model')):
        if not path.exists():
            LOG.error('%s not found: %s', what, path)
            return 2
    summary = run(args)
    LOG.info('summary:\n%s', json.dumps(summary, indent=2))
    LOG.info('panels: %s/panel_*.png, outputs bag: %s', args.out, summary['outputs_bag'])
    return 0 if summary['frames_processed'] else 1


if __name__ == '__main__':
    sys.exit(main())
