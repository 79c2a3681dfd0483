"""rosbag2 files (sqlite3 or mcap) through the pure-Python `rosbags` library, no ROS needed.

Reading: `RosbagClip` exposes an image topic as a Clip (training reads bags like any source).
Bags are only ever opened read-only. Writing: `write_bag` turns any Clip into Image or
CompressedImage + CameraInfo (+ Odometry from the clip's poses); used by `svde-train make-bag`,
the demo and tests.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from svde_ros.camera_model import camera_model
from svde_ros.files import atomic_write_bytes
from svde_ros.geometry import (
    Intrinsics,
    matrix_to_quaternion,
    pose_from_xyz_rpy,
    transform_matrix,
)
from svde_ros.image_codec import (
    COLOR_ENCODINGS,
    ImageConversionError,
    compressed_to_rgb8,
    image_to_rgb8,
)
from svde_training.data.clip import Clip, DataError

LOG = logging.getLogger(__name__)
STORAGES = ('mcap', 'sqlite3')
BAG_VERSION = 8   # the rosbag2 metadata version Jazzy writes; Humble reads bags via rosbags


@dataclass(frozen=True)
class BagTopics:
    """Topic names and frames written into a bag."""

    image: str = '/camera/image_raw'
    camera_info: str = '/camera/camera_info'
    odometry: str = '/odom'
    frame_id: str = 'camera_optical'
    odom_frame_id: str = 'odom'
    base_frame_id: str = 'base_link'
    tf_static: str = '/tf_static'


IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
MIN_MOTION_M = 0.05        # a frame closer than this to the last kept one teaches nothing
MIN_IMAGE_CHANGE = 1.0     # mean grey-level change (of 255) standing in when there is no odometry
POSE_TYPES = ('nav_msgs/msg/Odometry', 'geometry_msgs/msg/PoseStamped',
              'geometry_msgs/msg/TransformStamped')


def open_bag(path: Path):  # noqa: ANN201 - rosbags' AnyReader (opened, read-only)
    """Open a bag for reading with errors a user can act on."""
    from rosbags.highlevel import AnyReader

    if not path.exists():
        raise DataError(f'bag not found: {path}')
    try:
        reader = AnyReader([path])
        reader.open()
    except Exception as err:  # rosbags raises several types for broken/absent metadata
        if path.is_dir() and not (path / 'metadata.yaml').exists():
            storage = sorted(p.name for p in path.iterdir()
                             if p.suffix in ('.db3', '.mcap') and p.is_file())
            if not storage:
                raise DataError(f'{path} is not a rosbag2: a bag folder holds metadata.yaml '
                                'and .db3 or .mcap files') from None
            raise DataError(f'{path} has bag files ({", ".join(storage[:3])}) but no '
                            'metadata.yaml: the recording was probably interrupted; '
                            '`ros2 bag reindex` rebuilds it') from None
        raise DataError(f'{path} is not a readable rosbag2: {err}') from None
    return reader


def camera_offset(xyz_rpy: tuple[float, ...]) -> np.ndarray:
    """4x4 pose of the camera in the odometry's child frame, from x y z roll pitch yaw."""
    try:
        return pose_from_xyz_rpy(xyz_rpy)
    except ValueError as err:
        raise DataError(f'camera_in_base: {err}') from None


def _pose_matrix(msg: object, msgtype: str) -> np.ndarray:
    if msgtype == 'geometry_msgs/msg/TransformStamped':
        t, q = msg.transform.translation, msg.transform.rotation  # type: ignore[attr-defined]
    else:
        pose = msg.pose.pose if msgtype == 'nav_msgs/msg/Odometry' else msg.pose  # type: ignore
        t, q = pose.position, pose.orientation
    return transform_matrix(t, q)


class IndexCache:
    """A bag's frame index (stamps after selection, poses) cached as JSON outside the bag.

    The file name hashes the bag's path and selection; the content records the size and mtime
    of every file of the bag, so an index of a changed or re-recorded bag is rebuilt, never
    trusted. Bags are never written to: the cache lives in the run folder.
    """

    def __init__(self, folder: Path, bag: Path, selection: dict[str, Any]) -> None:
        files = sorted(p for p in bag.iterdir() if p.is_file()) if bag.is_dir() else [bag]
        self.key = {'format': 'svde_ros.bag_index/1', 'bag': str(bag.resolve()),
                    'files': {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files},
                    **selection}
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()
        self.path = folder / f'{bag.name}-{digest[:12]}.json'

    def load(self) -> dict[str, Any] | None:
        """The cached index, or None when absent, unreadable or made for another bag state."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data.get('index') if data.get('key') == self.key else None

    def save(self, index: dict[str, Any]) -> None:
        """Write the index atomically (concurrent ranks write the same content)."""
        atomic_write_bytes(self.path, json.dumps({'key': self.key, 'index': index}).encode())


def static_transform(reader, parent: str, child: str) -> np.ndarray | None:  # noqa: ANN001
    """T_parent_child (4x4) composed along the bag's /tf_static tree, or None if not linked.

    Walks from `child` up its parents (a robot's base_link -> camera_link -> camera optical
    frame, say) until `parent`.
    """
    connections = [c for c in reader.connections if c.topic == '/tf_static'
                   and c.msgtype == 'tf2_msgs/msg/TFMessage']
    if not connections:                     # (messages([]) would read every topic)
        return None
    up: dict[str, tuple[str, np.ndarray]] = {}
    for connection, _, raw in reader.messages(connections):
        for tf in reader.deserialize(raw, connection.msgtype).transforms:
            up[tf.child_frame_id.lstrip('/')] = (tf.header.frame_id.lstrip('/'), _pose_matrix(
                tf, 'geometry_msgs/msg/TransformStamped'))
    T, frame, seen = np.eye(4), child.lstrip('/'), set()
    while frame != parent.lstrip('/'):
        if frame not in up or frame in seen:     # not linked, or a loop in a broken tree
            return None
        seen.add(frame)
        frame, T_up = up[frame]
        T = T_up @ T
    return T


class RosbagClip(Clip):
    """The frames of one image topic of a bag.

    An index of the topic's message timestamps (after `stride` and the time window) is built
    once; frames are then read by timestamp, so epochs never rescan the bag. Each process opens
    its own reader (DataLoader workers fork). K and D come from the camera_info topic or a camera
    YAML; images are undistorted when D is non-zero (plumb_bob / rational_polynomial or
    equidistant). With an odometry topic (Odometry, PoseStamped or TransformStamped) each
    frame gets the pose nearest in time.
    """

    def __init__(self, path: str | Path, image_topic: str, camera_info_topic: str = '',
                 intrinsics_path: str = '', odom_topic: str = '', stride: int = 1,
                 start_s: float = 0.0, end_s: float = 0.0, skip_static: bool = True,
                 index_dir: Path | None = None,
                 camera_in_base: tuple[float, ...] = ()) -> None:
        """Index the bag's image topic (see the class docstring).

        camera_in_base: x y z (m) roll pitch yaw (rad) of the camera's optical frame in the
        odometry's child frame (the static TF base_link -> camera optical frame); () takes
        it from the bag's /tf_static (from the odometry's child_frame_id to the images'
        frame_id), or none when those two frames are the same.
        """
        self.path = Path(path)
        self._camera_in_base = camera_offset(camera_in_base)
        self.name = f'{self.path.name}{image_topic}'
        self._reader, self._pid = None, -1
        reader = open_bag(self.path)
        try:
            selection = {'image_topic': image_topic, 'odom_topic': odom_topic,
                         'stride': stride, 'start_s': start_s, 'end_s': end_s,
                         'skip_static': skip_static}
            cache = IndexCache(index_dir, self.path, selection) if index_dir else None
            restored = cache is not None and self._restore(cache)
            if not restored:
                self._index(reader, image_topic, stride, start_s, end_s)
                odometry = self._read_odometry(reader, odom_topic) if odom_topic else None
                self._poses = None if odometry is None else self._nearest(odometry)
            if odom_topic and not camera_in_base:
                self._camera_in_base = self._camera_offset_from_tf(reader, odom_topic)
            if not restored:
                if skip_static:
                    self._drop_static(reader)
                if cache is not None:
                    cache.save({'topic': self.topic, 'type': self.connection_type,
                                'stamps': self.stamps, 'poses': None if self._poses is None
                                else [p.tolist() for p in self._poses]})
            self._camera_model = self._camera(reader, camera_info_topic, intrinsics_path)
        finally:
            reader.close()

    def _camera_offset_from_tf(self, reader, odom_topic: str) -> np.ndarray:  # noqa: ANN001
        """T_base_camera from /tf_static, when the odometry is of another frame than the camera.

        Raises:
            DataError: the frames differ and /tf_static does not link them (one line naming
                the setting to give).
        """
        def first(topic: str) -> Any:
            connection = next(c for c in reader.connections if c.topic == topic)
            raw = next(reader.messages([connection]))[2]
            return reader.deserialize(raw, connection.msgtype)

        odometry = first(odom_topic)
        base = getattr(odometry, 'child_frame_id', '')
        camera = first(self.topic).header.frame_id
        if not base or not camera or base.lstrip('/') == camera.lstrip('/'):
            return np.eye(4)
        T = static_transform(reader, base, camera)
        if T is None:
            raise DataError(f'{self.path}: the odometry is of {base!r}, the images of '
                            f'{camera!r}, and /tf_static does not link them; give the camera\'s '
                            f'pose in {base!r} with --camera-in-base "x y z roll pitch yaw"')
        LOG.info('%s: camera %s in %s from /tf_static: xyz %s', self.name, camera, base,
                 np.round(T[:3, 3], 3).tolist())
        return T

    def _restore(self, cache: IndexCache) -> bool:
        """Take the frame index from the cache when it was built for this bag and selection."""
        index = cache.load()
        if index is None:
            return False
        self.topic, self.connection_type = index['topic'], index['type']
        self.stamps = [int(t) for t in index['stamps']]
        self._poses = None if index['poses'] is None else [np.array(p) for p in index['poses']]
        LOG.info('%s: frame index from %s (%d frames)', self.name, cache.path, len(self.stamps))
        return True

    def _drop_static(self, reader) -> None:  # noqa: ANN001
        """Keep a frame only once the camera moved since the last kept one.

        Motion is MIN_MOTION_M by odometry when present, else a mean grey-level change of
        MIN_IMAGE_CHANGE on 64x32 thumbnails.
        """
        keep = [0]
        if self._poses is not None:
            # The camera's motion, not the base's: a turn of the base moves a camera mounted
            # away from its axis.
            camera = [pose @ self._camera_in_base for pose in self._poses]
            for i in range(1, len(self.stamps)):
                moved = np.linalg.norm((np.linalg.inv(camera[i]) @ camera[keep[-1]])[:3, 3])
                if moved >= MIN_MOTION_M:
                    keep.append(i)
        else:
            thumbs = [cv2.resize(cv2.cvtColor(self._decode(reader, t), cv2.COLOR_RGB2GRAY),
                                 (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
                      for t in self.stamps]
            for i in range(1, len(thumbs)):
                if np.abs(thumbs[i] - thumbs[keep[-1]]).mean() >= MIN_IMAGE_CHANGE:
                    keep.append(i)
        if len(keep) < len(self.stamps):
            LOG.info('%s: %d of %d frames kept (camera moving)', self.name, len(keep),
                     len(self.stamps))
        if len(keep) < 2:
            raise DataError(f'{self.topic} in {self.path}: the camera barely moves; nothing to '
                            'learn from (set skip_static: false to use every frame)')
        self.stamps = [self.stamps[i] for i in keep]
        if self._poses is not None:
            self._poses = [self._poses[i] for i in keep]

    def _topics(self, reader, types: tuple[str, ...]) -> list[str]:  # noqa: ANN001
        return sorted({c.topic for c in reader.connections if c.msgtype in types})

    def _index(self, reader, topic: str, stride: int, start_s: float,  # noqa: ANN001
               end_s: float) -> None:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise DataError(f'{self.path} has no topic {topic!r}; its image topics are: '
                            f'{", ".join(self._topics(reader, IMAGE_TYPES)) or "none"}')
        if connections[0].msgtype not in IMAGE_TYPES:
            raise DataError(f'{topic} in {self.path} is {connections[0].msgtype}, not an image '
                            'topic')
        self.connection_type = connections[0].msgtype
        stamps = [t for _, t, _ in reader.messages(connections)]
        first = stamps[0] if stamps else 0
        stamps = [t for t in stamps if t >= first + start_s * 1e9
                  and (not end_s or t <= first + end_s * 1e9)][::max(1, stride)]
        if len(stamps) < 2:
            raise DataError(f'{topic} in {self.path}: {len(stamps)} frame(s) after stride and '
                            'time window; a clip needs at least 2')
        self.stamps, self.topic = stamps, topic

    def _camera(self, reader, topic: str, intrinsics_path: str):  # noqa: ANN001, ANN202
        from svde_training.data.folder import load_camera

        if intrinsics_path:
            return load_camera(intrinsics_path, self.name)
        if not topic:
            candidates = self._topics(reader, ('sensor_msgs/msg/CameraInfo',))
            if len(candidates) != 1:
                raise DataError(f'{self.path}: give the camera_info topic or --intrinsics YAML '
                                f'(camera_info topics found: {", ".join(candidates) or "none"})')
            topic = candidates[0]
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise DataError(f'{self.path} has no topic {topic!r}; pass --intrinsics YAML instead')
        _, _, raw = next(reader.messages(connections))
        info = reader.deserialize(raw, connections[0].msgtype)
        try:
            model = camera_model(info)      # the node builds its input the same way
        except ValueError as err:
            raise DataError(f'{topic} in {self.path}: {err}') from None
        if model.maps is not None:
            LOG.info('%s: undistorting with %s D=%s', self.name, model.distortion_model,
                     np.asarray(info.d).round(4))
        return model

    def _read_odometry(self, reader, topic: str):  # noqa: ANN001, ANN202
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections or connections[0].msgtype not in POSE_TYPES:
            raise DataError(f'{self.path}: no odometry topic {topic!r} (pose topics: '
                            f'{", ".join(self._topics(reader, POSE_TYPES)) or "none"})')
        times, poses = [], []
        for connection, t, raw in reader.messages(connections):
            poses.append(_pose_matrix(reader.deserialize(raw, connection.msgtype),
                                      connection.msgtype))
            times.append(t)
        return np.asarray(times), poses

    def _nearest(self, odometry) -> list[np.ndarray]:  # noqa: ANN001
        times, poses = odometry
        return [poses[int(np.argmin(np.abs(times - t)))] for t in self.stamps]

    def _open(self):  # noqa: ANN202
        if self._reader is None or self._pid != os.getpid():
            self._reader, self._pid = open_bag(self.path), os.getpid()
        return self._reader

    def __len__(self) -> int:
        return len(self.stamps)

    def image(self, index: int) -> np.ndarray:
        return self._camera_model.undistort(self._decode(self._open(), self.stamps[index]))

    def _decode(self, reader, t: int) -> np.ndarray:  # noqa: ANN001
        connections = [c for c in reader.connections if c.topic == self.topic]
        for connection, _, raw in reader.messages(connections, start=t, stop=t + 1):
            msg = reader.deserialize(raw, connection.msgtype)
            try:
                rgb = compressed_to_rgb8(msg) if connection.msgtype.endswith('CompressedImage') \
                    else image_to_rgb8(msg)
            except ImageConversionError as err:
                raise DataError(f'{self.topic} in {self.path}: {err}') from None
            return rgb
        raise DataError(f'{self.path}: message at {t} ns vanished from {self.topic}')

    def intrinsics(self, index: int) -> Intrinsics:
        return self._camera_model.intrinsics

    def pose(self, index: int) -> np.ndarray | None:
        """Camera-to-odom pose: the odometry's pose times the camera's offset from its child."""
        return None if self._poses is None else self._poses[index] @ self._camera_in_base

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state['_reader'], state['_pid'] = None, -1   # readers do not cross processes
        return state


def _looks_derived(topic: str) -> bool:
    """Colour images that are outputs of depth nodes (colorized depth, masks), not cameras."""
    parts = topic.lower().split('/')
    return any(word in part for part in parts for word in ('depth', 'mask', 'disparity'))


def bag_info(path: Path) -> str:
    """A human summary: topics, types, counts, rates, image sizes, suggested camera topics."""
    reader = open_bag(path)
    try:
        lines = [f'{path}: {reader.duration / 1e9:.1f} s, {reader.message_count} messages']
        images = []
        for c in sorted(reader.connections, key=lambda c: c.topic):
            rate = c.msgcount / max(reader.duration / 1e9, 1e-9)
            extra = ''
            if c.msgtype in IMAGE_TYPES and c.msgcount:
                _, _, raw = next(reader.messages([c]))
                msg = reader.deserialize(raw, c.msgtype)
                compressed = c.msgtype.endswith('CompressedImage')
                if not compressed and msg.encoding not in COLOR_ENCODINGS:
                    # Depth maps, masks of other encodings: images, but not camera frames.
                    extra = f', {msg.width}x{msg.height} {msg.encoding} (not a camera image)'
                else:
                    try:
                        rgb = compressed_to_rgb8(msg) if compressed else image_to_rgb8(msg)
                        extra = f', {rgb.shape[1]}x{rgb.shape[0]}'
                        if _looks_derived(c.topic):
                            extra += ' (named like a depth/mask output, not suggested)'
                        else:
                            images.append(c.topic)
                    except ImageConversionError as err:
                        extra = f', undecodable: {err}'
                    extra += '' if compressed else f' {msg.encoding}'
            lines.append(f'  {c.topic}  [{c.msgtype}]  {c.msgcount} msgs, {rate:.1f} Hz{extra}')
        infos = [c.topic for c in reader.connections if c.msgtype.endswith('CameraInfo')]
        lines.append('suggested: ' + (f'--image-topic {images[0]}' if images else
                                      'no image topic') +
                     (f' --camera-info-topic {infos[0]}' if infos else ' (no camera_info: '
                      'pass --intrinsics YAML)'))
        return '\n'.join(lines)
    finally:
        reader.close()


def _typestore():  # noqa: ANN202 - rosbags' Typestore, imported lazily
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def write_bag(clip: Clip, out: Path, storage: str = 'mcap', rate_hz: float = 10.0,
              compressed: bool = False, topics: BagTopics = BagTopics(),
              max_frames: int = 0, jpeg_quality: int = 90,
              camera_in_base: np.ndarray | None = None) -> int:
    """Write the clip's frames as a new bag folder `out` (refuses to touch an existing one).

    camera_in_base: T_base_camera (4x4) to record as a robot does: the odometry then gives
    the base's pose (child frame `topics.base_frame_id`), and /tf_static holds the camera's
    offset from the base. None: the odometry is the camera's own pose.

    Returns:
        The number of frames written.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    if storage not in STORAGES:
        raise DataError(f'storage must be one of {", ".join(STORAGES)}, got {storage!r}')
    if out.exists():
        raise DataError(f'{out} exists; choose a new --out (bags are never overwritten)')
    if rate_hz <= 0:
        raise DataError(f'rate must be positive, got {rate_hz}')
    ts = _typestore()
    T = ts.types
    Time, Header = T['builtin_interfaces/msg/Time'], T['std_msgs/msg/Header']
    count = min(len(clip), max_frames) if max_frames else len(clip)
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    image_topic = f'{topics.image}/compressed' if compressed else topics.image
    with Writer(out, version=BAG_VERSION, storage_plugin=plugin) as writer:
        image_conn = writer.add_connection(image_topic, image_type, typestore=ts)
        info_conn = writer.add_connection(topics.camera_info, 'sensor_msgs/msg/CameraInfo',
                                          typestore=ts)
        odom_conn = None
        if clip.pose(0) is not None:
            odom_conn = writer.add_connection(topics.odometry, 'nav_msgs/msg/Odometry',
                                              typestore=ts)
        base_to_camera = np.eye(4)
        if camera_in_base is not None:
            base_to_camera = np.linalg.inv(camera_in_base)
            tf_conn = writer.add_connection(topics.tf_static, 'tf2_msgs/msg/TFMessage',
                                            typestore=ts)
            writer.write(tf_conn, 0, ts.serialize_cdr(_tf_static(T, camera_in_base, topics),
                                                      'tf2_msgs/msg/TFMessage'))
        for i in tqdm(range(count), desc=f'writing {out.name}', unit='frame'):
            stamp_ns = int(round(i * 1e9 / rate_hz))
            header = Header(stamp=Time(sec=stamp_ns // 10 ** 9, nanosec=stamp_ns % 10 ** 9),
                            frame_id=topics.frame_id)
            rgb = clip.image(i)
            if compressed:
                ok, jpeg = cv2.imencode('.jpg', rgb[..., ::-1],
                                        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                assert ok
                msg = T[image_type](header=header, format='jpeg',
                                    data=np.frombuffer(jpeg.tobytes(), np.uint8))
            else:
                msg = T[image_type](header=header, height=rgb.shape[0], width=rgb.shape[1],
                                    encoding='rgb8', is_bigendian=0, step=rgb.shape[1] * 3,
                                    data=np.ascontiguousarray(rgb).reshape(-1))
            writer.write(image_conn, stamp_ns, ts.serialize_cdr(msg, image_type))
            writer.write(info_conn, stamp_ns, ts.serialize_cdr(
                _camera_info(T, header, clip, i), 'sensor_msgs/msg/CameraInfo'))
            pose = clip.pose(i)
            if odom_conn is not None and pose is not None:
                writer.write(odom_conn, stamp_ns, ts.serialize_cdr(_odometry(
                    T, header, pose @ base_to_camera, topics,
                    topics.frame_id if camera_in_base is None else topics.base_frame_id),
                    'nav_msgs/msg/Odometry'))
    LOG.info('wrote %d frames to %s (%s, %g Hz%s)', count, out, storage, rate_hz,
             ', with odometry' if odom_conn else '')
    return count


def _camera_info(T, header, clip: Clip, index: int):  # noqa: ANN001, ANN202
    K = clip.intrinsics(index)
    P = np.hstack([K.matrix(), np.zeros((3, 1))])
    roi = T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                do_rectify=False)
    return T['sensor_msgs/msg/CameraInfo'](
        header=header, height=K.height, width=K.width, distortion_model='plumb_bob',
        d=np.zeros(5), k=K.matrix().reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1),
        binning_x=0, binning_y=0, roi=roi)


def _tf_static(T, camera_in_base: np.ndarray, topics: BagTopics):  # noqa: ANN001, ANN202
    x, y, z, w = matrix_to_quaternion(camera_in_base[:3, :3])
    t = camera_in_base[:3, 3]
    stamp = T['builtin_interfaces/msg/Time'](sec=0, nanosec=0)
    transform = T['geometry_msgs/msg/TransformStamped'](
        header=T['std_msgs/msg/Header'](stamp=stamp, frame_id=topics.base_frame_id),
        child_frame_id=topics.frame_id,
        transform=T['geometry_msgs/msg/Transform'](
            translation=T['geometry_msgs/msg/Vector3'](x=float(t[0]), y=float(t[1]),
                                                       z=float(t[2])),
            rotation=T['geometry_msgs/msg/Quaternion'](x=x, y=y, z=z, w=w)))
    return T['tf2_msgs/msg/TFMessage'](transforms=[transform])


def _odometry(T, header, pose: np.ndarray, topics: BagTopics,  # noqa: ANN001, ANN202
              child_frame_id: str):
    x, y, z, w = matrix_to_quaternion(pose[:3, :3])
    point = T['geometry_msgs/msg/Point'](x=float(pose[0, 3]), y=float(pose[1, 3]),
                                         z=float(pose[2, 3]))
    quat = T['geometry_msgs/msg/Quaternion'](x=x, y=y, z=z, w=w)
    vec = T['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0)
    odom_header = T['std_msgs/msg/Header'](stamp=header.stamp, frame_id=topics.odom_frame_id)
    return T['nav_msgs/msg/Odometry'](
        header=odom_header, child_frame_id=child_frame_id,
        pose=T['geometry_msgs/msg/PoseWithCovariance'](
            pose=T['geometry_msgs/msg/Pose'](position=point, orientation=quat),
            covariance=np.zeros(36)),
        twist=T['geometry_msgs/msg/TwistWithCovariance'](
            twist=T['geometry_msgs/msg/Twist'](linear=vec, angular=vec),
            covariance=np.zeros(36)))
