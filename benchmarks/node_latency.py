"""End-to-end latency of depth_node over loopback DDS at 30 Hz input, from one run.

    python benchmarks/node_latency.py [--seconds 8] [--size 640x192] [--soak-minutes 0]

A peer node publishes a real KITTI frame (rgb8, 1242x375) + camera_info at 30 Hz; the node runs
with each backend, SPIMO on/off and the cloud on/off. Printed per configuration: publish ->
depth received p50/p95, achieved output rate, dropped frames, and the node's own overhead per
frame (conversion + cloud + publishing, i.e. everything but inference; goal < 3 ms at 640x192).
With --soak-minutes the first backend runs that long with SPIMO and the cloud on, and prints
per minute: RSS, frames out, and the node's received / processed / dropped counters, then the
verdict: RSS growth after the first (warm-up) minute < 5% with a steady output rate. With
--tracemalloc the soak also lists the Python allocations that grew most after the first minute
(a leak grows there; allocator and DDS warm-up do not).
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
from shared_data import read_rgb, require

REPO = Path(__file__).resolve().parents[1]
FRAME = (REPO.parent / 'shared/data/kitti_raw_tiny/2011_09_26/2011_09_26_drive_0023_sync/'
         'image_02/data/0000000003.png')
MODEL = REPO / 'models' / 'kitti_odometry_320x96.pt'


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def measure(backend: str, model: dict, spimo: bool, cloud: bool, seconds: float,
            rate_hz: float, trace: bool = False) -> dict:
    """Run one configuration and return its figures (per minute for runs over a minute)."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from svde_ros.ros.depth_node import DepthNode
    from svde_ros.ros.image_conversions import array_to_image

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.randint(100, 200))
    node = DepthNode(context=context, parameter_overrides=[
        Parameter('backend', value=backend), Parameter('spimo_enabled', value=spimo),
        Parameter('cloud_enabled', value=cloud),
        # Reliable input: large best-effort frames are lost in loopback transport (README).
        Parameter('input_reliability', value='reliable'),
        *[Parameter(k, value=v) for k, v in model.items()]])
    peer = rclpy.create_node('latency_peer', context=context)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub_image = peer.create_publisher(Image, 'image', qos)
    pub_info = peer.create_publisher(CameraInfo, 'camera_info', qos)
    sent: dict[int, float] = {}
    latencies: list[float] = []
    received: list[float] = []

    def on_depth(msg: Image) -> None:
        now = time.monotonic()
        key = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
        if key in sent:
            latencies.append(now - sent[key])
            received.append(now)
    peer.create_subscription(Image, 'depth/image', on_depth, qos)
    for topic in ('points', 'moving_mask/image'):   # someone listens, so the node works
        peer.create_subscription(Image if topic == 'moving_mask/image' else PointCloud2, topic,
                                 lambda _msg: None, qos)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    threading.Thread(target=executor.spin, daemon=True).start()
    rgb = read_rgb(FRAME)
    image = array_to_image(rgb, 'rgb8')
    K = [721.5377, 0, 609.5593, 0, 721.5377, 172.854, 0, 0, 1]
    info = CameraInfo(width=rgb.shape[1], height=rgb.shape[0], k=K)
    time.sleep(1.5)                                   # discovery
    rss_start = _rss_mb()
    minutes: list[dict] = []                          # to tell warm-up from leaks

    def sample() -> None:
        minutes.append({'rss_mb': _rss_mb(), 'out': len(latencies), 'received': node.received,
                        'processed': node.processed, 'dropped': node.dropped})
        if trace and len(minutes) == 2:
            snapshots.append(tracemalloc.take_snapshot())
    snapshots: list = []
    if trace:
        tracemalloc.start(10)
    start = time.monotonic()
    count = 0
    while time.monotonic() - start < seconds:
        if seconds > 60 and time.monotonic() - start >= 60 * len(minutes):
            sample()
        due = start + count / rate_hz
        time.sleep(max(0.0, due - time.monotonic()))
        stamp = int(time.time() * 1e9)
        for msg in (info, image):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10 ** 9)
            msg.header.frame_id = 'camera_optical'
        sent[stamp] = time.monotonic()
        pub_info.publish(info)
        pub_image.publish(image)
        count += 1
    time.sleep(1.0)
    rss_end = _rss_mb()
    if seconds > 60:
        sample()
    growth_lines: list[str] = []
    if trace and snapshots:
        diff = tracemalloc.take_snapshot().compare_to(snapshots[0], 'lineno')
        growth_lines = [str(d) for d in diff[:8]]
        tracemalloc.stop()
    result = {
        'backend': node.backend.name, 'spimo': spimo, 'cloud': cloud, 'sent': count,
        'received': len(latencies), 'dropped': node.dropped, 'rejected': node.rejected,
        'p50_ms': float(np.percentile(latencies, 50) * 1000) if latencies else float('nan'),
        'p95_ms': float(np.percentile(latencies, 95) * 1000) if latencies else float('nan'),
        'rate_hz': (len(received) - 1) / (received[-1] - received[0])
        if len(received) > 1 else 0.0,
        'overhead_ms': float(np.median(node.overheads) * 1000) if node.overheads
        else float('nan'),
        'rss_growth': (rss_end - rss_start) / rss_start,
        'minutes': minutes, 'tracemalloc': growth_lines,
    }
    executor.shutdown()
    node.destroy_node()
    peer.destroy_node()
    rclpy.try_shutdown(context=context)
    return result


def main() -> int:
    """Measure every configuration and print one table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seconds', type=float, default=8.0)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--size', default='640x192')
    parser.add_argument('--backends', default='torch,onnxruntime')
    parser.add_argument('--soak-minutes', type=float, default=0.0)
    parser.add_argument('--soak-only', action='store_true', help='skip the latency table')
    parser.add_argument('--tracemalloc', action='store_true',
                        help='soak: list the Python allocations that grew after minute 1')
    args = parser.parse_args()
    require(FRAME)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    width, height = (int(v) for v in args.size.split('x'))
    from svde_ros.inference.export import export_onnx
    from svde_ros.spimo import SpimoConfig

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx = {}
        for spimo in (False, True):
            path = Path(tmp) / f'model_{int(spimo)}.onnx'
            export_onnx(MODEL, path, height, width, SpimoConfig() if spimo else False)
            onnx[spimo] = path
        for backend in ([] if args.soak_only else args.backends.split(',')):
            for spimo in (False, True):
                for cloud in (False, True):
                    model = ({'checkpoint': str(MODEL), 'input_width': width,
                              'input_height': height} if backend == 'torch'
                             else {'onnx': str(onnx[spimo])})
                    print(f'{backend} spimo={spimo} cloud={cloud} ...', file=sys.stderr)
                    rows.append(measure(backend, model, spimo, cloud, args.seconds, args.rate))
        soak = None
        if args.soak_minutes:
            print(f'soak: {args.soak_minutes} min ...', file=sys.stderr)
            soak = measure(args.backends.split(',')[0],
                           {'checkpoint': str(MODEL), 'input_width': width,
                            'input_height': height}, True, True, args.soak_minutes * 60,
                           args.rate, args.tracemalloc)
    print(f'\ndepth_node at {args.size}, input 1242x375 rgb8 at {args.rate:g} Hz for '
          f'{args.seconds:g} s per row, loopback DDS, CPU (2 cores shared by publisher and node)')
    print('| backend | SPIMO | cloud | p50 ms | p95 ms | output Hz | dropped | node overhead ms |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["backend"]} | {"on" if r["spimo"] else "off"} | '
              f'{"on" if r["cloud"] else "off"} | {r["p50_ms"]:.0f} | {r["p95_ms"]:.0f} | '
              f'{r["rate_hz"]:.1f} | {r["dropped"]}/{r["sent"]} | {r["overhead_ms"]:.2f} |')
    print('node overhead goal: < 3 ms per frame at 640x192')
    if soak:
        print_soak(soak, args.soak_minutes)
    return 0


def print_soak(soak: dict, minutes: float) -> None:
    """Per-minute table and the verdict against the 5% goal after the warm-up minute."""
    rows = soak['minutes']
    print(f'\nsoak {minutes:g} min, {soak["backend"]}, SPIMO and cloud on')
    print('| minute | RSS MB | frames out that minute | received | processed | dropped |')
    print('|---|---|---|---|---|---|')
    for k, r in enumerate(rows):
        out = r['out'] - (rows[k - 1]['out'] if k else 0)
        print(f'| {k} | {r["rss_mb"]:.0f} | {out if k else "-"} | {r["received"]} | '
              f'{r["processed"]} | {r["dropped"]} |')
    if len(rows) < 3:
        print('verdict: too short (needs at least 2 minutes)')
        return
    growth = (rows[-1]['rss_mb'] - rows[1]['rss_mb']) / rows[1]['rss_mb']
    per_minute = [rows[k]['out'] - rows[k - 1]['out'] for k in range(2, len(rows))]
    steady = min(per_minute) >= 0.5 * max(per_minute) > 0
    print(f'verdict: RSS growth after minute 1 {100 * growth:.1f}% (goal < 5%: '
          f'{"met" if growth < 0.05 else "NOT met"}); output {min(per_minute)}-'
          f'{max(per_minute)} frames per minute ({"steady" if steady else "NOT steady"}); '
          f'whole run {100 * soak["rss_growth"]:.1f}%')
    if soak['tracemalloc']:
        print('largest Python allocation growth after minute 1:')
        for line in soak['tracemalloc']:
            print(f'  {line}')


if __name__ == '__main__':
    sys.exit(main())
