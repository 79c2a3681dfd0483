"""Data sources (one Clip interface), augmentation and datasets."""
from __future__ import annotations

import logging
from pathlib import Path

from svde_training.config import (
    CityscapesSource,
    DepthFramesSource,
    FolderSource,
    Framing,
    KittiOdometrySource,
    KittiRawSource,
    KittiSplitSource,
    RgbdSource,
    RosbagSource,
    SourceConfig,
    SyntheticSource,
    TrainConfig,
    VideoSource,
    with_input_size,
)
from svde_training.data.cityscapes import cityscapes_clips
from svde_training.data.clip import Clip, DataError, frame_clip
from svde_training.data.folder import FolderClip, RgbdClip, VideoClip, depth_frame_clips
from svde_training.data.kitti import KittiOdometryClip, KittiRawClip, split_clips
from svde_training.data.synthetic import synthetic_clips

LOG = logging.getLogger(__name__)


def build_clips(source: SourceConfig, index_dir: Path | None = None) -> list[Clip]:
    """Open the clips a configured source describes, cut into shots and cropped (Framing).

    `index_dir` is where bag sources cache their frame index (a run's folder); None = no cache.
    """
    clips = _open_clips(source, index_dir)
    if not isinstance(source, Framing):
        return clips
    crop = source.crop
    return [shot for clip in clips for shot in frame_clip(
        clip, (crop.top, crop.bottom, crop.left, crop.right), source.cuts)]


def resolve_input_size(config: TrainConfig) -> TrainConfig:
    """`config` with its automatic input size set from the first source's frames (as cropped).

    Run before a run folder is written, so that config.yaml and the checkpoints hold the size
    the network is trained and served at.
    """
    d = config.data
    if d.base_height and d.crop_height:
        return config
    K = build_clips(d.sources[0])[0].intrinsics(0)
    resolved = with_input_size(config, K.width, K.height)
    LOG.info('input size %dx%d (width x height) for %dx%d frames at about %d pixels; set '
             'data.base_width/base_height to choose another', resolved.data.base_width,
             resolved.data.base_height, K.width, K.height, d.input_pixels)
    return resolved


def _open_clips(source: SourceConfig, index_dir: Path | None) -> list[Clip]:
    if isinstance(source, FolderSource):
        return [FolderClip(source.path, source.intrinsics, source.poses or None)]
    if isinstance(source, RgbdSource):
        return [RgbdClip(source.path, source.depth_path, source.intrinsics, source.depth_scale)]
    if isinstance(source, DepthFramesSource):
        return depth_frame_clips(Path(source.path), source.depth_scale)
    if isinstance(source, VideoSource):
        return [VideoClip(source.path, source.intrinsics, source.stride, source.max_frames)]
    if isinstance(source, KittiRawSource):
        return [KittiRawClip(source.path, source.camera, source.depth)]
    if isinstance(source, KittiSplitSource):
        return split_clips(Path(source.root), Path(source.split), source.depth)
    if isinstance(source, KittiOdometrySource):
        return [KittiOdometryClip(source.path, source.image_dir)]
    if isinstance(source, CityscapesSource):
        return list(cityscapes_clips(source.path, source.split))
    if isinstance(source, RosbagSource):
        from svde_training.data.rosbag import RosbagClip

        return [RosbagClip(source.path, source.image_topic, source.camera_info_topic,
                           source.intrinsics, source.odom_topic, source.stride, source.start_s,
                           source.end_s, source.skip_static, index_dir,
                           source.camera_in_base)]
    if isinstance(source, SyntheticSource):
        return list(synthetic_clips(source.seed, source.num_clips, source.num_frames,
                                    source.height, source.width, source.num_movers,
                                    source.vehicle_look))
    raise DataError(f'unsupported source {source!r}')


__all__ = ['Clip', 'DataError', 'build_clips', 'resolve_input_size']
