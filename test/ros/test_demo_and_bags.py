"""make-bag round trip in both storage formats, and the README demo end to end."""
import json

import numpy as np
import pytest

from svde_ros.inference.factory import gpu_present
from svde_ros.resources import highway_bag
from svde_ros.ros.demo import DEFAULT_BAG, DEFAULT_MODEL
from svde_ros.ros.demo import main as demo
from svde_training.cli import main as cli
from svde_training.data.folder import FolderClip

from ..conftest import REPO


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_make_bag_round_trip_is_frame_exact(tmp_path, kitti_odometry, storage):
    from rosbags.highlevel import AnyReader
    out = tmp_path / 'bag'
    args = ['make-bag', '--images', str(kitti_odometry / 'image_l'), '--intrinsics',
            str(REPO / 'config' / 'kitti_odometry_camera.yaml'), '--poses',
            str(kitti_odometry / 'poses.txt'), '--out', str(out), '--storage', storage,
            '--max-frames', '4', '--rate', '10']
    assert cli(args) == 0
    assert cli(args) == 2                                  # never overwrites a bag
    clip = FolderClip(kitti_odometry / 'image_l', REPO / 'config' / 'kitti_odometry_camera.yaml',
                      kitti_odometry / 'poses.txt')
    with AnyReader([out]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {'/camera/image_raw': 4, '/camera/camera_info': 4, '/odom': 4}
        images = [reader.deserialize(raw, c.msgtype) for c, _, raw in
                  reader.messages([c for c in reader.connections if c.topic.endswith('raw')])]
        infos = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(
            [c for c in reader.connections if c.topic.endswith('info')])]
        odom = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(
            [c for c in reader.connections if c.topic == '/odom'])]
    for i, (msg, info) in enumerate(zip(images, infos)):
        pixels = np.asarray(msg.data).reshape(msg.height, msg.width, 3)
        assert np.array_equal(pixels, clip.image(i))
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(i * 10 ** 8, 10 ** 9)
        assert np.allclose(np.asarray(info.k).reshape(3, 3), clip.intrinsics(i).matrix())
    assert odom[3].pose.pose.position.z == pytest.approx(clip.pose(3)[2, 3])


@pytest.mark.slow
def test_readme_demo_runs_end_to_end(tmp_path):
    assert DEFAULT_BAG.exists() and DEFAULT_MODEL.exists()
    cache = tmp_path.parent / f'{tmp_path.name}-cache'
    assert demo(['--out', str(tmp_path), '--rate', '2', '--domain-id', '91', '--cache-dir',
                 str(cache)]) == 0
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['frames_processed'] > 0 and summary['frames_rejected'] == 0
    assert summary['node_exit_code'] == 0                  # depth_node ran as its own process
    assert 'model ready' in (tmp_path / 'depth_node.log').read_text()
    assert summary['recorded']['/camera/depth/image'] == summary['frames_processed']
    assert summary['panels_written'] == len(list(tmp_path.glob('panel_*.png'))) > 0
    if not gpu_present():       # auto without a GPU: the checkpoint exported for onnxruntime
        assert summary['backend'].startswith('onnxruntime') and list(cache.glob('*.onnx'))
    from rosbags.highlevel import AnyReader
    with AnyReader([tmp_path / 'outputs']) as reader:
        depth = [c for c in reader.connections if c.topic == '/camera/depth/image'][0]
        _, _, raw = next(reader.messages([depth]))
        msg = reader.deserialize(raw, depth.msgtype)
    assert (msg.encoding, msg.width, msg.height) == ('32FC1', 320, 96)    # the bundled model
    values = np.frombuffer(msg.data.tobytes(), np.float32)
    assert np.nanmedian(values) > 2 and np.nanmedian(values) < 80   # metric, street scale
    assert demo(['--out', str(tmp_path)]) == 2                       # keeps earlier results
    from svde_training.data.rosbag import bag_info
    info = bag_info(tmp_path / 'outputs')         # outputs are not camera images to train on
    assert '/camera/depth/image  [sensor_msgs/msg/Image]' in info and 'not a camera image' in info
    assert 'suggested: no image topic' in info


def test_demo_force_replaces_only_what_a_demo_wrote(tmp_path):
    (tmp_path / 'outputs').mkdir()
    (tmp_path / 'panel_000.png').write_bytes(b'old')
    (tmp_path / 'my_notes.txt').write_text('mine')
    missing = str(tmp_path / 'no_such_bag')
    assert demo(['--out', str(tmp_path), '--bag', missing]) == 2      # refused, nothing gone
    assert (tmp_path / 'outputs').is_dir() and (tmp_path / 'panel_000.png').exists()
    assert demo(['--out', str(tmp_path), '--bag', missing, '--force']) == 2
    assert not (tmp_path / 'outputs').exists() and not (tmp_path / 'panel_000.png').exists()
    assert (tmp_path / 'my_notes.txt').read_text() == 'mine'


@pytest.mark.slow
def test_highway_demo_publishes_the_motion_mask(tmp_path):
    """The second sample bag (moving cars) in the node with its defaults: the motion mask.

    Every processed frame gets one but those within motion_interval_s (0.1 s, 3 frames at
    25 Hz) of the first, which have no frame old enough to compare with.
    """
    bag = highway_bag()
    assert (bag / 'metadata.yaml').is_file()
    from rosbags.highlevel import AnyReader
    with AnyReader([bag]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts == {'/camera/image_raw/compressed': 40, '/camera/camera_info': 40}
    cache = tmp_path.parent / f'{tmp_path.name}-cache'
    assert demo(['--bag', str(bag), '--out', str(tmp_path), '--rate', '0.5', '--domain-id', '92',
                 '--cache-dir', str(cache)]) == 0
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['mask_method'] == 'motion' and summary['node_exit_code'] == 0
    processed = summary['frames_processed']
    assert processed > 3 and processed - 3 <= summary['frames_with_mask'] < processed
    assert summary['recorded']['/camera/moving_mask/image'] == summary['frames_with_mask']
    assert summary['motion_state'] in ('moving', 'still', 'only_turning', 'uncertain')
