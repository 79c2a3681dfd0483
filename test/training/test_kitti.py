"""KITTI as users download it: Velodyne scans, annotated depth maps and split files."""
import shutil

import cv2
import numpy as np
import pytest

from svde_training.cli import main
from svde_training.data.clip import DataError
from svde_training.data.kitti import (
    KittiRawClip,
    image_to_velodyne,
    project_velodyne,
    split_clips,
    velodyne_to_image,
)


@pytest.fixture
def drive(kitti_raw_drive, tmp_path):
    """A writable copy of the drive (and its date folder's calibration)."""
    date = tmp_path / 'kitti' / '2011_09_26'
    shutil.copytree(kitti_raw_drive.parent, date)
    return date / kitti_raw_drive.name


def test_velodyne_scans_project_like_the_shipped_projection(drive):
    # The shipped npz maps are KITTI's projected LiDAR. Turn one back into a Velodyne scan
    # through the inverse calibration, add what a real scan has (points behind the sensor,
    # a farther point on an occupied pixel), write it as a .bin and project it again.
    reference = KittiRawClip(drive).depth(3)
    P = velodyne_to_image(drive.parent, 'image_02')
    points = image_to_velodyne(reference, P)
    behind = points[:50].copy()
    behind[:, :3] *= -1                                   # x < 0: behind the sensor
    some = np.zeros_like(reference)
    v, u = np.nonzero(reference)
    some[v[:50], u[:50]] = reference[v[:50], u[:50]] * 1.5
    farther = image_to_velodyne(some, P)                  # same pixels, 50% farther
    scan = np.vstack([points, behind, farther]).astype(np.float32)
    (drive / 'velodyne_points' / 'data').mkdir(parents=True)
    scan.tofile(drive / 'velodyne_points' / 'data' / '0000000003.bin')
    shutil.rmtree(drive / 'proj_depth')                   # only the scan is left
    depth = KittiRawClip(drive, depth_source='velodyne').depth(3)
    assert np.array_equal(depth > 0, reference > 0)       # the same pixels
    assert np.abs(depth - reference)[reference > 0].max() < 0.01   # within 1 cm
    assert project_velodyne(scan, P, 375, 1242).shape == (375, 1242)


def test_annotated_depth_maps_are_read_as_metres(drive):
    reference = KittiRawClip(drive).depth(2)
    folder = drive / 'proj_depth' / 'groundtruth' / 'image_02'
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / '0000000002.png'), np.round(reference * 256).astype(np.uint16))
    depth = KittiRawClip(drive, depth_source='groundtruth').depth(2)
    assert np.abs(depth - reference).max() <= 1 / 512 + 1e-6
    assert KittiRawClip(drive, depth_source='groundtruth').depth(1) is None
    cv2.imwrite(str(folder / '0000000001.png'), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match='not a 16-bit single-channel PNG'):
        KittiRawClip(drive, depth_source='groundtruth').depth(1)


def test_split_files_pick_frames_and_name_the_bad_line(drive, tmp_path):
    root = drive.parent.parent
    split = tmp_path / 'test_files.txt'
    split.write_text('2011_09_26/2011_09_26_drive_0023_sync 0000000002 l\n'
                     '2011_09_26/2011_09_26_drive_0023_sync 0000000005 l\n')
    (clip,) = split_clips(root, split)
    assert [i for i in range(len(clip)) if clip.is_target(i)] == [2, 5]
    split.write_text('2011_09_26/2011_09_26_drive_0023_sync 0000000002 l\n\n'
                     '2011_09_26/2011_09_26_drive_0023_sync 0000000042 l\n')
    with pytest.raises(DataError, match=r'test_files.txt:3: frame 0000000042 not found'):
        split_clips(root, split)
    split.write_text('2011_09_26/2011_09_26_drive_0023_sync 2 left\n')
    with pytest.raises(DataError, match=r'test_files.txt:1: expected'):
        split_clips(root, split)


def test_evaluate_on_a_split_uses_the_kitti_protocol(drive, tmp_path, checkpoint, capsys):
    split = tmp_path / 'eigen_like.txt'
    split.write_text(''.join(f'2011_09_26/2011_09_26_drive_0023_sync {i:010d} l\n'
                             for i in (1, 3, 5)))
    assert main(['evaluate', '--checkpoint', checkpoint, '--split', str(split),
                 '--kitti-root', str(drive.parent.parent)]) == 0
    out = capsys.readouterr().out
    assert 'Depth on 3 frames' in out and 'Garg crop' in out
    assert 'depth by image row' in out
