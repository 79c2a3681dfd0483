import json
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest
import yaml

from svde_ros.geometry import rotation_angle_deg
from svde_training.config import DataConfig, DepthFramesSource, FolderSource, Margins
from svde_training.data import build_clips
from svde_training.data.cityscapes import cityscapes_clips
from svde_training.data.clip import DataError
from svde_training.data.dataset import TupleDataset, collate
from svde_training.data.folder import FolderClip, VideoClip, load_camera
from svde_training.data.kitti import KittiOdometryClip, KittiRawClip
from svde_training.data.synthetic import SyntheticClip

from ..conftest import KITTI_ODOMETRY_07, KITTI_RAW_0926_GRAY


def test_kitti_raw_clip(kitti_raw_drive):
    clip = KittiRawClip(kitti_raw_drive, 'image_02')
    assert len(clip) == 7
    image = clip.image(0)
    assert image.shape == (375, 1242, 3) and image.dtype == np.uint8
    K = clip.intrinsics(0)
    assert (K.fx, K.cx, K.cy, K.width, K.height) == pytest.approx(
        (721.5377, 609.5593, 172.854, 1242, 375))
    depth = clip.depth(3)
    assert depth.shape == (375, 1242)
    assert 0.01 < (depth > 0).mean() < 0.1 and depth.max() < 120
    assert clip.pose(0).shape == (4, 4)


def test_kitti_odometry_clip(kitti_odometry):
    clip = KittiOdometryClip(kitti_odometry)
    assert len(clip) == 12
    image = clip.image(10)
    assert image.shape[2] == 3 and (image[..., 0] == image[..., 1]).all()  # grey replicated
    K = clip.intrinsics(0)
    assert K.fx == pytest.approx(707.0912) and (K.width, K.height) == image.shape[1::-1]
    # The car drives forward along +z.
    assert clip.pose(11)[2, 3] - clip.pose(0)[2, 3] > 5


def test_kitti_odometry_07_through_a_turn():
    """Sequence 07 (labelled P0..P3 calib): the same camera as the clip, and its poses turn."""
    clip = KittiOdometryClip(KITTI_ODOMETRY_07)
    assert len(clip) == 8
    K = clip.intrinsics(0)
    assert (K.fx, K.cx, K.cy) == pytest.approx((707.0912, 601.8873, 183.1104))
    assert clip.image(0).shape == (370, 1226, 3)
    turns = [rotation_angle_deg((np.linalg.inv(clip.pose(i + 1)) @ clip.pose(i))[:3, :3])
             for i in range(7)]
    assert min(turns) > 1.0                 # frames 20-27 of the first left turn
    step = np.linalg.inv(clip.pose(1)) @ clip.pose(0)
    assert step[2, 3] < -0.05 and abs(step[0, 3]) < abs(step[2, 3])  # forward, along z


def test_grey_unrectified_drive_is_undistorted_and_framed_like_kitti():
    """kitti_raw_0926_gray: grey JPEGs, plumb_bob D undone on load, rows 24-442 kept."""
    source = FolderSource(str(KITTI_RAW_0926_GRAY / 'image'),
                          str(KITTI_RAW_0926_GRAY / 'camera.yaml'),
                          crop=Margins(top=24, bottom=70))
    [clip] = build_clips(source)
    assert len(clip) == 6
    image = clip.image(2)
    assert image.shape == (418, 1392, 3) and (image[..., 0] == image[..., 2]).all()
    K = clip.intrinsics(2)
    assert (K.fx, K.fy) == pytest.approx((984.2439, 980.8141))
    assert K.cy == pytest.approx(233.1966 - 24) and K.width / K.height == pytest.approx(3.33, 0.01)
    camera = yaml.safe_load((KITTI_RAW_0926_GRAY / 'camera.yaml').read_text())
    raw = cv2.imread(str(KITTI_RAW_0926_GRAY / 'image' / '000002.jpg'), cv2.IMREAD_GRAYSCALE)
    M = np.array(camera['camera_matrix']['data']).reshape(3, 3)
    D = np.array(camera['distortion_coefficients']['data'])
    undistorted = cv2.undistort(raw, M, D)[24:512 - 70]
    centre = (slice(100, 318), slice(300, 1092))
    assert np.abs(image[..., 0][centre].astype(int) - undistorted[centre]).mean() < 3
    assert np.abs(image[..., 0][centre].astype(int) - raw[24:442][centre]).mean() > 5


def _ros_camera_yaml(path, K, width, height):
    path.write_text(yaml.safe_dump({
        'image_width': width, 'image_height': height, 'camera_name': 'cam',
        'camera_matrix': {'rows': 3, 'cols': 3, 'data': K.ravel().tolist()},
        'distortion_model': 'plumb_bob', 'distortion_coefficients': {'rows': 1, 'cols': 5,
                                                                     'data': [0] * 5}}))


def test_folder_clip_with_ros_camera_yaml_at_another_resolution(tmp_path, kitti_raw_drive):
    raw = KittiRawClip(kitti_raw_drive)
    for i in range(3):
        small = cv2.resize(raw.image(i), (621, 188))
        cv2.imwrite(str(tmp_path / f'{i:04d}.png'), small[..., ::-1])
    _ros_camera_yaml(tmp_path / 'camera.yaml', raw.intrinsics(0).matrix(), 1242, 375)
    clip = FolderClip(tmp_path, tmp_path / 'camera.yaml')
    assert len(clip) == 3
    assert np.allclose(clip.intrinsics(0).matrix(), raw.intrinsics(0).resized(621, 188).matrix())
    assert np.array_equal(clip.image(1), cv2.resize(raw.image(1), (621, 188)))


def test_plain_intrinsics_yaml_and_errors(tmp_path):
    good = tmp_path / 'k.yaml'
    good.write_text('fx: 100\nfy: 100\ncx: 50\ncy: 20\nwidth: 100\nheight: 40\n')
    camera = load_camera(good, 'here')
    assert camera.intrinsics.fx == 100 and camera.maps is None
    assert load_camera(good, 'here', (50, 20)).intrinsics.fx == 50
    with pytest.raises(DataError, match='another aspect ratio'):
        load_camera(good, 'here', (50, 50))
    bad = tmp_path / 'bad.yaml'
    bad.write_text('fx: 100\ncx: 50\n')
    with pytest.raises(DataError, match="missing key 'fy'"):
        load_camera(bad, 'here')
    bad.write_text('fx: [1, 2\n')
    with pytest.raises(DataError, match='not valid YAML'):
        load_camera(bad, 'here')
    bad.write_text('fx: -3\nfy: 1\ncx: 0\ncy: 0\nwidth: 10\nheight: 10\n')
    with pytest.raises(DataError, match='malformed intrinsics'):
        load_camera(bad, 'here')
    with pytest.raises(DataError, match='not found'):
        load_camera(tmp_path / 'absent.yaml', 'here')
    bad.write_text(yaml.safe_dump({
        'image_width': 10, 'image_height': 10, 'distortion_model': 'kannala_brandt',
        'camera_matrix': {'data': [5, 0, 5, 0, 5, 5, 0, 0, 1]},
        'distortion_coefficients': {'data': [0.1, 0, 0, 0]}}))
    with pytest.raises(DataError, match="unsupported distortion model 'kannala_brandt'"):
        load_camera(bad, 'here')


def _distorted_camera(path, width, height, k1):
    f = 0.9 * width
    path.write_text(yaml.safe_dump({
        'image_width': width, 'image_height': height,
        'camera_matrix': {'data': [f, 0, width / 2, 0, f, height / 2, 0, 0, 1]},
        'distortion_model': 'plumb_bob',
        'distortion_coefficients': {'data': [k1, 0.0, 0.0, 0.0, 0.0]}}))
    return f


def _grid_image(width, height):
    """A white grid on black: straight lines a distortion visibly bends."""
    image = np.zeros((height, width, 3), np.uint8)
    for start in range(4):
        image[start::16] = 255
        image[:, start::16] = 255
    return cv2.GaussianBlur(image, (5, 5), 1.5)


def test_video_and_folder_frames_are_undistorted_by_the_camera_yaml(tmp_path):
    width, height = 160, 96
    f = _distorted_camera(tmp_path / 'camera.yaml', width, height, -0.3)
    straight = _grid_image(width, height)
    # Distort the grid the way the lens does: each distorted pixel samples the ideal image.
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ideal = cv2.undistortPoints(np.stack([x, y], -1).reshape(-1, 1, 2),
                                np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]]),
                                np.array([-0.3, 0, 0, 0, 0])).reshape(height, width, 2)
    distorted = cv2.remap(straight, ideal[..., 0] * f + width / 2,
                          ideal[..., 1] * f + height / 2, cv2.INTER_LINEAR)
    folder = tmp_path / 'frames'
    folder.mkdir()
    writer = cv2.VideoWriter(str(tmp_path / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10,
                             (width, height))
    for i in range(3):
        cv2.imwrite(str(folder / f'{i:03d}.png'), distorted[..., ::-1])
        writer.write(distorted[..., ::-1])
    writer.release()
    centre = (slice(16, height - 16), slice(24, width - 24))

    def error(image):
        return np.abs(image[centre].astype(float) - straight[centre]).mean()

    for clip in (FolderClip(folder, tmp_path / 'camera.yaml'),
                 VideoClip(tmp_path / 'clip.avi', tmp_path / 'camera.yaml')):
        assert error(clip.image(1)) < 0.3 * error(distorted), clip.name
        assert clip.intrinsics(0).fx == pytest.approx(f)


def test_crop_and_cuts_frame_a_source(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(8):
        cv2.imwrite(str(folder / f'{i:03d}.png'), np.full((80, 200, 3), i * 20, np.uint8))
    (tmp_path / 'k.yaml').write_text('fx: 80\nfy: 80\ncx: 100\ncy: 40\nwidth: 200\nheight: 80\n')
    source = FolderSource(str(folder), str(tmp_path / 'k.yaml'),
                          crop=Margins(top=8, bottom=20, left=4), cuts=(3, 4))
    clips = build_clips(source)
    # Shots 0-2, 3 (one frame: left out), 4-7.
    assert [(c.name, len(c)) for c in clips] == [('frames[0:3]', 3), ('frames[4:8]', 4)]
    shot = clips[1]
    assert shot.image(0).shape == (52, 196, 3) and shot.image(0)[0, 0, 0] == 80
    K = shot.intrinsics(0)
    assert (K.cx, K.cy, K.width, K.height) == (96, 32, 196, 52)
    dataset = TupleDataset(clips, DataConfig(base_height=32, base_width=96, crop_height=32,
                                             crop_width=64), seed=0)
    # No pair spans a cut: every target's neighbours lie in its own shot.
    assert [(c, t) for c, t, _ in dataset.items] == [(0, 1), (1, 1), (1, 2)]
    with pytest.raises(DataError, match=r'cuts \[9\] outside'):
        build_clips(FolderSource(str(folder), str(tmp_path / 'k.yaml'), cuts=(9,)))
    with pytest.raises(DataError, match='leaves nothing'):
        build_clips(FolderSource(str(folder), str(tmp_path / 'k.yaml'),
                                 crop=Margins(top=40, bottom=40)))


def test_folder_errors(tmp_path):
    (tmp_path / 'k.yaml').write_text('fx: 1\nfy: 1\ncx: 0\ncy: 0\nwidth: 10\nheight: 10\n')
    with pytest.raises(DataError, match='image folder not found'):
        FolderClip(tmp_path / 'nope', tmp_path / 'k.yaml')
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(DataError, match='no images'):
        FolderClip(empty, tmp_path / 'k.yaml')
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / '0000.png').write_bytes(b'not a png at all')
    with pytest.raises(DataError, match='cannot read image .*0000.png'):
        FolderClip(broken, tmp_path / 'k.yaml')


def test_video_clip_from_real_frames(tmp_path, kitti_raw_drive):
    raw = KittiRawClip(kitti_raw_drive)
    path = tmp_path / 'drive.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (621, 188))
    assert writer.isOpened()
    for i in range(len(raw)):
        writer.write(cv2.resize(raw.image(i), (621, 188))[..., ::-1].copy())
    writer.release()
    _ros_camera_yaml(tmp_path / 'cam.yaml', raw.intrinsics(0).matrix(), 1242, 375)
    clip = VideoClip(path, tmp_path / 'cam.yaml', stride=2)
    assert len(clip) == 4
    frame = clip.image(1)
    assert frame.shape == (188, 620, 3)   # MJPG rounds the width to even pixels
    def error(n):
        return np.abs(frame.astype(float) - cv2.resize(raw.image(n), (621, 188))[:, :620]).mean()
    assert error(2) < 8 and error(2) < 0.5 * error(0)   # frame 2, JPEG-compressed
    assert clip.intrinsics(0).fx == pytest.approx(raw.intrinsics(0).fx * 620 / 1242)
    with pytest.raises(DataError, match='cannot open video'):
        (tmp_path / 'x.avi').write_bytes(b'garbage')
        VideoClip(tmp_path / 'x.avi', tmp_path / 'cam.yaml')


def test_cityscapes_layout(tmp_path, kitti_raw_drive):
    raw = KittiRawClip(kitti_raw_drive)
    city = 'aachen'
    images = tmp_path / 'leftImg8bit_sequence' / 'train' / city
    cameras = tmp_path / 'camera' / 'train' / city
    images.mkdir(parents=True)
    cameras.mkdir(parents=True)
    for n in (0, 1, 2, 3, 10, 11):   # two snippets: 0-3 and 10-11
        shutil.copy(raw.files[n % len(raw)], images / f'{city}_000000_{n:06d}_leftImg8bit.png')
    (cameras / f'{city}_000000_000002_camera.json').write_text(json.dumps(
        {'intrinsic': {'fx': 2262.52, 'fy': 2265.3, 'u0': 1096.98, 'v0': 513.137}}))
    clips = cityscapes_clips(tmp_path, 'train')
    assert [len(c) for c in clips] == [4, 2]
    assert clips[0].image(0).shape == (281, 1242, 3)   # bonnet cropped (bottom 25%)
    assert clips[0].intrinsics(0).cy == pytest.approx(513.137)
    with pytest.raises(DataError, match='not found'):
        cityscapes_clips(tmp_path, 'val')


def test_synthetic_is_deterministic_and_exact():
    a, b = SyntheticClip(7, 6, 64, 128), SyntheticClip(7, 6, 64, 128)
    assert np.array_equal(a.image(3), b.image(3))
    assert not np.array_equal(a.image(3), SyntheticClip(8, 6, 64, 128).image(3))
    depth = a.depth(3)
    assert np.isfinite(depth).all() and depth.min() > 0
    assert a.moving_mask(3).dtype == bool
    # Bigger render of the same scene: same depth at the same ray.
    big = SyntheticClip(7, 6, 128, 256)
    assert big.depth(3)[64, 128] == pytest.approx(a.depth(3)[32, 64], rel=0.02)


def test_frame_smaller_than_crop_is_rejected():
    config = DataConfig(base_height=64, base_width=128, crop_height=64, crop_width=128)
    with pytest.raises(DataError, match='smaller than the crop 128x64'):
        TupleDataset([SyntheticClip(0, 4, 32, 64)], config)


def test_training_tuples_have_consistent_shapes():
    config = DataConfig(base_height=64, base_width=128, crop_height=32, crop_width=96,
                        scale_min=1.0, scale_max=1.5)
    dataset = TupleDataset([SyntheticClip(0, 5, 64, 128)], config, seed=1)
    assert len(dataset) == 3
    batch = collate([dataset[0], dataset[1]])
    assert batch.images.shape == (2, 3, 3, 32, 96)
    assert batch.pose_images.shape == (2, 3, 3, 64, 128)
    assert batch.pos.shape == (2, 2, 32, 96)
    assert ((batch.scale >= 1.0) & (batch.scale <= 1.5)).all()
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    # Same (seed, epoch, index) -> same sample; another epoch -> another crop.
    assert np.array_equal(dataset[0].images.numpy(), dataset[0].images.numpy())
    dataset.set_epoch(1)
    assert not np.array_equal(dataset[0].pos.numpy(), batch.pos[0].numpy())


def test_sampling_by_source_gives_a_short_clip_its_share():
    """sampling: sources draws each source equally often, however long its clips are."""
    from svde_training.distributed import DistInfo
    from svde_training.trainer import EpochSampler

    config = DataConfig(base_height=64, base_width=128, crop_height=32, crop_width=96)
    clips = [SyntheticClip(0, 4, 64, 128), SyntheticClip(1, 40, 64, 128)]   # 2 and 38 targets
    frames = TupleDataset(clips, config, groups=[0, 1])
    assert frames.draw_weights() is None
    sources = TupleDataset(clips, replace(config, sampling='sources'), groups=[0, 1])
    weights = sources.draw_weights()
    assert weights is not None and np.isclose(weights.sum(), 1.0)
    info = DistInfo(rank=0, world_size=1, local_rank=0)
    drawn = list(EpochSampler(len(sources), 4000, seed=3, epoch=0, info=info, weights=weights))
    short = np.mean([sources.items[i][0] == 0 for i in drawn])
    assert 0.45 < short < 0.55          # by frames it would be 2 / 40
    # Seeded by (seed, epoch): a resumed epoch replays the same draws from its position.
    again = list(EpochSampler(len(sources), 4000, 3, 0, info, start=1000, weights=weights))
    assert again == drawn[1000:]


def test_depth_frames_source_reads_eval_mix_layout(tmp_path, kitti_raw_drive):
    """One folder per frame (image, uint16 depth x 256, camera.yaml), as in eval_mix."""
    clip = KittiRawClip(kitti_raw_drive)
    for i, name in enumerate(('place_a', 'place_b')):
        folder = tmp_path / name
        (folder / 'image').mkdir(parents=True)
        (folder / 'depth').mkdir()
        cv2.imwrite(str(folder / 'image' / f'{name}.png'), clip.image(i)[..., ::-1])
        depth = np.round(clip.depth(i) * 256).astype(np.uint16)
        cv2.imwrite(str(folder / 'depth' / f'{name}.png'), depth)
        K = clip.intrinsics(i)
        (folder / 'camera.yaml').write_text(yaml.safe_dump({
            'image_width': K.width, 'image_height': K.height,
            'camera_matrix': {'rows': 3, 'cols': 3, 'data': K.matrix().reshape(-1).tolist()},
            'distortion_model': 'plumb_bob',
            'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': [0.0] * 5}}))
    clips = build_clips(DepthFramesSource(path=str(tmp_path)))
    assert [c.name for c in clips] == ['place_a', 'place_b'] and all(len(c) == 1 for c in clips)
    valid = clip.depth(1) > 0
    assert np.allclose(clips[1].depth(0)[valid], clip.depth(1)[valid], atol=1 / 256)
    with pytest.raises(DataError, match='camera.yaml missing'):
        (tmp_path / 'place_c' / 'image').mkdir(parents=True)
        build_clips(DepthFramesSource(path=str(tmp_path)))
