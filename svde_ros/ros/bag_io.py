"""Play a rosbag2 into ROS and record topics into one, as serialized CDR (no message copies).

Uses the pure-Python `rosbags` library for the files and rclpy's raw publish/subscribe, so it
works without rosbag2_py (and without a ROS install beyond rclpy).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

if TYPE_CHECKING:
    from rosbags.interfaces import Connection

# The message types this player/recorder handles, by their rosbag2 type names.
MESSAGE_TYPES: dict[str, type] = {
    'sensor_msgs/msg/Image': Image, 'sensor_msgs/msg/CompressedImage': CompressedImage,
    'sensor_msgs/msg/CameraInfo': CameraInfo, 'sensor_msgs/msg/PointCloud2': PointCloud2,
}
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def play_bag(node: Node, bag: Path, topic_map: dict[str, str], rate_scale: float = 1.0,
             stop: threading.Event | None = None, wait_for_subscribers_s: float = 0.0) -> int:
    """Publish the bag's messages on topics renamed by `topic_map` (others are skipped).

    The recorded timing is kept, scaled by `rate_scale`. With `wait_for_subscribers_s`, playback
    starts once every topic has a matched subscriber (or that time has passed) and one more
    second has passed, so the first frames are not lost to DDS discovery. Returns the number
    published.
    """
    from rosbags.highlevel import AnyReader

    if not bag.exists():
        raise FileNotFoundError(f'bag not found: {bag}')
    published = 0
    with AnyReader([bag]) as reader:
        wanted = [c for c in reader.connections if c.topic in topic_map]
        missing = set(topic_map) - {c.topic for c in wanted}
        if missing:
            raise ValueError(f'{bag} has no topic(s) {", ".join(sorted(missing))}; it has '
                             f'{", ".join(sorted(c.topic for c in reader.connections))}')
        publishers: dict[int, Any] = {
            c.id: node.create_publisher(MESSAGE_TYPES[c.msgtype], topic_map[c.topic], RELIABLE)
            for c in wanted}
        deadline = time.monotonic() + wait_for_subscribers_s
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() > 0 for p in publishers.values()):
            time.sleep(0.02)
        if wait_for_subscribers_s:
            # The publisher sees a match before the subscriber's reader has matched it back;
            # give that side a moment too, or a best-effort subscriber loses the first message.
            time.sleep(min(1.0, wait_for_subscribers_s))
        start_wall, start_bag = time.monotonic(), None
        for connection, stamp_ns, raw in reader.messages(connections=wanted):
            if stop is not None and stop.is_set():
                break
            start_bag = stamp_ns if start_bag is None else start_bag
            due = start_wall + (stamp_ns - start_bag) * 1e-9 / rate_scale
            time.sleep(max(0.0, due - time.monotonic()))
            publishers[connection.id].publish(bytes(raw))
            published += 1
    return published


class BagRecorder:
    """Subscribe to topics raw and write every message into a new mcap bag."""

    def __init__(self, node: Node, out: Path, topics: dict[str, str]) -> None:
        """`topics` maps topic name -> rosbag2 type name (a key of MESSAGE_TYPES)."""
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if out.exists():
            raise FileExistsError(f'{out} exists; bags are never overwritten')
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(topics, 0)
        self.writer: Writer | None = Writer(out, version=8, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        store = get_typestore(Stores.ROS2_HUMBLE)
        self.node = node
        for topic, msgtype in topics.items():
            connection = self.writer.add_connection(topic, msgtype, typestore=store)
            node.create_subscription(MESSAGE_TYPES[msgtype], topic,
                                     self._writer_for(topic, connection), RELIABLE, raw=True)

    def _writer_for(self, topic: str, connection: Connection):  # noqa: ANN202
        def write(raw: bytes) -> None:
            with self.lock:
                if self.writer is not None:
                    now = self.node.get_clock().now().nanoseconds
                    self.writer.write(connection, now, raw)
                    self.counts[topic] += 1
        return write

    def close(self) -> None:
        """Finish the bag (writes its metadata)."""
        with self.lock:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
