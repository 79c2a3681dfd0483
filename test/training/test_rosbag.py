"""Training from rosbag2 files: reading is frame-exact, read-only and fails helpfully."""
import hashlib
import shutil

import numpy as np
import pytest
import yaml

from svde_ros.geometry import quaternion_to_matrix
from svde_ros.model.checkpoint import load_depth_net
from svde_training.cli import main
from svde_training.config import load_config, stored_config
from svde_training.data.clip import DataError
from svde_training.data.folder import FolderClip
from svde_training.data.rosbag import (
    BagTopics,
    RosbagClip,
    bag_info,
    camera_offset,
    open_bag,
    static_transform,
    write_bag,
)

from ..conftest import DATA, REPO
from .test_trainer import TINY

CAMERA = REPO / 'config' / 'kitti_odometry_camera.yaml'


@pytest.fixture(scope='module')
def source(kitti_odometry):
    return FolderClip(kitti_odometry / 'image_l', CAMERA, kitti_odometry / 'poses.txt')


@pytest.fixture(scope='module')
def raw_bag(source, tmp_path_factory):
    out = tmp_path_factory.mktemp('bags') / 'raw'
    write_bag(source, out, 'sqlite3', 10.0, max_frames=6)
    return out


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_raw_bag_reads_back_frame_exact_and_untouched(raw_bag, source):
    before = _digest(raw_bag)
    clip = RosbagClip(raw_bag, '/camera/image_raw', odom_topic='/odom')
    assert len(clip) == 6
    for i in (0, 5):
        assert np.array_equal(clip.image(i), source.image(i))
        assert np.allclose(clip.pose(i), source.pose(i), atol=1e-9)
    assert np.allclose(clip.intrinsics(0).matrix(), source.intrinsics(0).matrix())
    assert _digest(raw_bag) == before                      # never written to


def test_compressed_mcap_stride_and_window(source, tmp_path):
    out = tmp_path / 'jpeg'
    write_bag(source, out, 'mcap', 10.0, compressed=True, max_frames=10)
    clip = RosbagClip(out, '/camera/image_raw/compressed', stride=2, start_s=0.2, end_s=0.75)
    assert len(clip) == 3                                  # frames 2, 4, 6
    assert np.abs(clip.image(1).astype(float) - source.image(4)).mean() < 3
    assert clip.pose(0) is None


def test_bad_input_names_what_exists(raw_bag, tmp_path):
    with pytest.raises(DataError, match=r"no topic '/cam/left'; its image topics are: "
                                        r'/camera/image_raw'):
        RosbagClip(raw_bag, '/cam/left')
    with pytest.raises(DataError, match='not an image topic'):
        RosbagClip(raw_bag, '/odom')
    with pytest.raises(DataError, match='bag not found'):
        RosbagClip(tmp_path / 'absent', '/camera/image_raw')
    no_info = tmp_path / 'no_info'
    no_info.mkdir()
    (no_info / 'metadata.yaml').write_text('not: a bag')
    with pytest.raises(DataError, match='is not a readable rosbag2'):
        RosbagClip(no_info, '/camera/image_raw')
    plain = tmp_path / 'holiday_photos'
    plain.mkdir()
    (plain / 'a.jpg').write_bytes(b'jpeg')
    with pytest.raises(DataError, match='holiday_photos is not a rosbag2: a bag folder holds'):
        RosbagClip(plain, '/camera/image_raw')
    interrupted = tmp_path / 'interrupted'
    shutil.copytree(raw_bag, interrupted)
    (interrupted / 'metadata.yaml').unlink()
    with pytest.raises(DataError, match=r'has bag files \(.*\) but no metadata.yaml.*reindex'):
        RosbagClip(interrupted, '/camera/image_raw')
    with pytest.raises(DataError, match="no odometry topic '/gps'"):
        RosbagClip(raw_bag, '/camera/image_raw', odom_topic='/gps')


def test_camera_info_missing_asks_for_intrinsics(source, tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    out = tmp_path / 'images_only'
    T = store.types
    with Writer(out, version=8) as writer:
        conn = writer.add_connection('/img', 'sensor_msgs/msg/Image', typestore=store)
        for i in range(3):
            rgb = source.image(i)
            msg = T['sensor_msgs/msg/Image'](
                header=T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](
                    sec=i, nanosec=0), frame_id='cam'), height=rgb.shape[0],
                width=rgb.shape[1], encoding='rgb8', is_bigendian=0, step=rgb.shape[1] * 3,
                data=rgb.reshape(-1))
            writer.write(conn, i * 10 ** 9, store.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
    with pytest.raises(DataError, match='give the camera_info topic or --intrinsics YAML'):
        RosbagClip(out, '/img')
    assert len(RosbagClip(out, '/img', intrinsics_path=str(CAMERA))) == 3


def test_bag_info_suggests_topics(raw_bag):
    text = bag_info(raw_bag)
    assert '/camera/image_raw  [sensor_msgs/msg/Image]  6 msgs' in text
    assert '1226x370 rgb8' in text
    assert 'suggested: --image-topic /camera/image_raw --camera-info-topic /camera/camera_info' \
        in text


def test_fit_from_a_bag(raw_bag, tmp_path):
    config = tmp_path / 'tiny.yaml'
    config.write_text(yaml.safe_dump({**TINY, 'optim': {**TINY['optim'], 'epochs': 1,
                                                        'steps_per_epoch': 2}}))
    out = tmp_path / 'run'
    assert main(['fit', '--config', str(config), '--bag', str(raw_bag), '--image-topic',
                 '/camera/image_raw', '--odom-topic', '/odom', '--out', str(out)]) == 0
    resolved = yaml.safe_load((out / 'config.yaml').read_text())
    assert resolved['data']['sources'][0]['type'] == 'rosbag'
    spec = load_depth_net(out / 'checkpoints' / 'last.pt')[1]
    assert spec.scale_source == 'odometry'             # poses from the bag's /odom


class _Stalled(FolderClip):
    """The real clip with its first frame held for three frames (the camera standing still)."""

    ORDER = (0, 0, 0, 1, 2, 3)

    def __len__(self) -> int:
        return len(self.ORDER)

    def image(self, index):
        return super().image(self.ORDER[index])

    def pose(self, index):
        return super().pose(self.ORDER[index])


@pytest.mark.parametrize('odom_topic', ['/odom', ''])
def test_frames_where_the_camera_stands_still_are_skipped(kitti_odometry, tmp_path, odom_topic):
    stalled = _Stalled(kitti_odometry / 'image_l', CAMERA, kitti_odometry / 'poses.txt')
    out = tmp_path / 'stalled'
    write_bag(stalled, out, 'mcap', 10.0)
    kept = RosbagClip(out, '/camera/image_raw', odom_topic=odom_topic)
    assert len(kept) == 4                         # one of the three identical frames remains
    assert np.array_equal(kept.image(1), stalled.image(3))
    assert len(RosbagClip(out, '/camera/image_raw', odom_topic=odom_topic,
                          skip_static=False)) == 6


def test_full_pipeline_from_a_bag(raw_bag, tmp_path):
    before = _digest(raw_bag)
    config = tmp_path / 'full.yaml'
    config.write_text(yaml.safe_dump({
        **TINY, 'pipeline': 'full', 'masking': {'mode': 'spimo'}, 'boost': {'weight': 0.1},
        'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}}))
    out = tmp_path / 'run'
    assert main(['fit', '--config', str(config), '--bag', str(raw_bag), '--image-topic',
                 '/camera/image_raw', '--odom-topic', '/odom', '--out', str(out)]) == 0
    masks = [p for p in (out / 'masks').glob('*/*.png') if p.parent.name != 'previews']
    assert len(masks) == 6                               # every kept frame of the bag
    stage2 = yaml.safe_load((out / 'stage2' / 'config.yaml').read_text())
    assert stage2['data']['sources'][0]['type'] == 'rosbag'
    assert stage2['masking']['mode'] == 'spimo'
    assert load_depth_net(out / 'checkpoints' / 'model.pt')[1].scale_source == 'odometry'
    assert _digest(raw_bag) == before                    # the bag is only read


def test_frame_index_is_cached_outside_the_bag_and_rebuilt_when_the_bag_changes(
        raw_bag, source, tmp_path):
    import json
    import os

    bag = tmp_path / 'bag'
    write_bag(source, bag, 'mcap', 10.0, max_frames=5)
    before = _digest(bag)
    cache = tmp_path / 'index'
    first = RosbagClip(bag, '/camera/image_raw', odom_topic='/odom', skip_static=False,
                       index_dir=cache)
    files = list(cache.glob('*.json'))
    assert len(files) == 1 and _digest(bag) == before        # cached beside, bag untouched
    # A second open reads the cache: prove it by editing the cached index.
    data = json.loads(files[0].read_text())
    data['index']['stamps'] = data['index']['stamps'][:3]
    data['index']['poses'] = data['index']['poses'][:3]
    files[0].write_text(json.dumps(data))
    second = RosbagClip(bag, '/camera/image_raw', odom_topic='/odom', skip_static=False,
                        index_dir=cache)
    assert len(first) == 5 and len(second) == 3
    np.testing.assert_array_equal(second.image(2), first.image(2))
    np.testing.assert_allclose(second.pose(2), first.pose(2))
    # Another selection, or a bag whose files changed, never takes a stale index.
    assert len(RosbagClip(bag, '/camera/image_raw', stride=2, skip_static=False,
                          index_dir=cache)) == 3
    for f in bag.iterdir():
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert len(RosbagClip(bag, '/camera/image_raw', odom_topic='/odom', skip_static=False,
                          index_dir=cache)) == 5


def test_fit_from_a_bag_without_a_config_trains_the_recipe_at_the_cameras_aspect(tmp_path):
    """A user's 4:3 bag and nothing but its topic: the recipe's choices, 4:3 kept."""
    kitchen = DATA / 'indoor_kitchen'
    bag = tmp_path / 'kitchen'
    write_bag(FolderClip(kitchen / 'video', kitchen / 'camera.yaml'), bag, 'mcap', 30.0,
              compressed=True, max_frames=4)
    out = tmp_path / 'run'
    assert main(['fit', '--bag', str(bag), '--image-topic', '/camera/image_raw/compressed',
                 '--set', 'optim.epochs=1', '--set', 'optim.steps_per_epoch=1',
                 '--out', str(out)]) == 0
    run = stored_config(yaml.safe_load((out / 'config.yaml').read_text()))
    recipe = load_config(REPO / 'config' / 'recipe.yaml')
    assert (run.model, run.loss, run.masking, run.pose_encoder, run.pose_translation_scale) == \
        (recipe.model, recipe.loss, recipe.masking, recipe.pose_encoder,
         recipe.pose_translation_scale)
    d = run.data
    assert (d.base_width, d.base_height, d.crop_width, d.crop_height) == (224, 160, 224, 160)
    spec = load_depth_net(out / 'checkpoints' / 'last.pt')[1]
    assert (spec.input_width, spec.input_height) == (224, 160)   # the node serves at this size


# A forward-looking camera 1.2 m up and 0.1 m ahead of the base, optical axes (z forward, x
# right, y down) in REP-103 base axes (x forward, y left, z up).
CAMERA_IN_BASE = (0.1, 0.0, 1.2, -np.pi / 2, 0.0, -np.pi / 2)


def test_a_robots_odometry_and_tf_static_give_the_cameras_poses(tmp_path):
    kitchen = DATA / 'indoor_kitchen'
    clip = FolderClip(kitchen / 'video', kitchen / 'camera.yaml', kitchen / 'poses.txt')
    bag = tmp_path / 'robot'
    assert main(['make-bag', '--images', str(kitchen / 'video'), '--intrinsics',
                 str(kitchen / 'camera.yaml'), '--poses', str(kitchen / 'poses.txt'),
                 '--out', str(bag), '--rate', '30', '--compressed',
                 '--camera-in-base', *map(str, CAMERA_IN_BASE)]) == 0
    read = RosbagClip(bag, '/camera/image_raw/compressed', odom_topic='/odom',
                      skip_static=False)
    offset = camera_offset(CAMERA_IN_BASE)
    assert np.allclose(offset[:3, :3] @ [0, 0, 1], [1, 0, 0])       # looks along base x
    for i in range(4):     # the camera, not the base (7-Scenes' rotations are orthonormal
        assert np.allclose(read.pose(i), clip.pose(i), atol=1e-3)   # to 1e-4; a quaternion is)
    reader = open_bag(bag)
    base = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(
        [c for c in reader.connections if c.topic == '/odom'])][1]
    reader.close()
    assert base.child_frame_id == 'base_link'
    assert np.allclose(read.pose(1) @ np.linalg.inv(offset),
                       _pose(base.pose.pose), atol=1e-6)
    # Frames are kept by the camera's motion (5 cm), not the base's: frame 1 is 4.7 cm from
    # frame 0 for the camera, but its turn swings the base, 1.2 m below, 7.2 cm.
    moving = RosbagClip(bag, '/camera/image_raw/compressed', odom_topic='/odom')
    assert len(moving) == 11
    assert np.allclose(moving.pose(1), clip.pose(2), atol=1e-3)


def test_odometry_of_another_frame_without_tf_names_the_setting(tmp_path, source):
    bag = tmp_path / 'no_tf'
    offset = camera_offset(CAMERA_IN_BASE)
    # The base's odometry, and the camera's offset recorded on a topic the reader ignores.
    write_bag(source, bag, 'mcap', 10.0, max_frames=3, camera_in_base=offset,
              topics=BagTopics(tf_static='/elsewhere'))
    with pytest.raises(DataError, match=r"odometry is of 'base_link', the images of "
                                        r"'camera_optical'.*--camera-in-base"):
        RosbagClip(bag, '/camera/image_raw', odom_topic='/odom', skip_static=False)
    given = RosbagClip(bag, '/camera/image_raw', odom_topic='/odom', skip_static=False,
                       camera_in_base=CAMERA_IN_BASE)
    assert np.allclose(given.pose(2), source.pose(2), atol=1e-6)


def _pose(pose) -> np.ndarray:
    T = np.eye(4)
    q, t = pose.orientation, pose.position
    T[:3, :3] = quaternion_to_matrix(q.x, q.y, q.z, q.w)
    T[:3, 3] = [t.x, t.y, t.z]
    return T


def test_a_loop_in_tf_static_is_not_a_link(tmp_path):
    """A broken /tf_static (a -> b -> a) ends the walk: no link, not a hang."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types
    stamp = T['builtin_interfaces/msg/Time'](sec=0, nanosec=0)

    def link(parent: str, child: str):
        return T['geometry_msgs/msg/TransformStamped'](
            header=T['std_msgs/msg/Header'](stamp=stamp, frame_id=parent), child_frame_id=child,
            transform=T['geometry_msgs/msg/Transform'](
                translation=T['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=1.0),
                rotation=T['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0)))

    bag = tmp_path / 'loop'
    with Writer(bag, version=8) as writer:
        connection = writer.add_connection('/tf_static', 'tf2_msgs/msg/TFMessage', typestore=ts)
        writer.write(connection, 0, ts.serialize_cdr(T['tf2_msgs/msg/TFMessage'](
            transforms=[link('a', 'b'), link('b', 'a'), link('base_link', 'c')]),
            'tf2_msgs/msg/TFMessage'))
    reader = open_bag(bag)
    try:
        assert static_transform(reader, 'base_link', 'b') is None
        assert np.allclose(static_transform(reader, 'base_link', 'c')[:3, 3], [0, 0, 1])
    finally:
        reader.close()
