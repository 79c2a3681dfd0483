"""Training configuration: frozen dataclasses per concern, loaded from YAML and validated.

Defaults live in the dataclasses; a YAML file lists only what differs, from the defaults or from
the file its `base:` names (merged key by key; lists are replaced whole). Unknown keys and wrong
types are rejected with the key path and the file named. Data sources are a tagged union on
`type` (see SOURCE_TYPES).
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import yaml

from svde_ros.model.config import ModelConfig
from svde_ros.model.depth_net import OUTPUT_STRIDE
from svde_ros.spimo import SpimoConfig


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the key."""


@dataclass(frozen=True)
class Margins:
    """Pixels left out on each side of a source's frames (after undistortion), e.g. a hood."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0


@dataclass(frozen=True, kw_only=True)
class Framing:
    """What of a single-camera source is scene and which frames may pair.

    crop: margins left out of every frame (a hood, a logo, a black border); K follows the crop.
    cuts: indices of the frames where a new shot starts (scene cuts, gaps in a recording). No
    training pair spans a cut; a piece shorter than two frames is left out.
    """

    crop: Margins = field(default_factory=Margins)
    cuts: tuple[int, ...] = ()


@dataclass(frozen=True)
class FolderSource(Framing):
    """A folder of frames (sorted by name) with a camera YAML.

    The YAML is a ROS camera_info file (frames are undistorted when its D is non-zero) or
    fx/fy/cx/cy/width/height; `poses` optionally names KITTI-style camera-to-world poses (12
    values a line). Every single-camera source also takes `crop` and `cuts` (Framing).
    """

    path: str
    intrinsics: str
    poses: str = ''
    type: Literal['folder'] = 'folder'


@dataclass(frozen=True)
class VideoSource(Framing):
    """A video file decoded with OpenCV: every `stride`-th frame, up to `max_frames` (0 = all).

    Frames are undistorted when the camera YAML has a non-zero D; `cuts` count decoded frames.
    """

    path: str
    intrinsics: str
    stride: int = 1
    max_frames: int = 0
    type: Literal['video'] = 'video'


@dataclass(frozen=True)
class KittiRawSource:
    """A KITTI raw drive folder (<date>/<drive>_sync) and a rectified camera."""

    path: str
    camera: Literal['image_02', 'image_03'] = 'image_02'
    depth: Literal['auto', 'velodyne', 'groundtruth'] = 'auto'
    type: Literal['kitti_raw'] = 'kitti_raw'


@dataclass(frozen=True)
class KittiSplitSource:
    """Frames of a KITTI raw download named by a split file.

    Lines `<date>/<drive> <frame> l|r` (the format of the Eigen and Eigen-Zhou splits);
    `root` holds the date folders. Listed frames are the targets (training) or the frames
    scored (evaluation); neighbours come from the drive. depth: auto | velodyne (the Eigen
    protocol: raw scans projected) | groundtruth (the depth benchmark's annotated maps).
    """

    root: str
    split: str
    depth: Literal['auto', 'velodyne', 'groundtruth'] = 'velodyne'
    type: Literal['kitti_split'] = 'kitti_split'


@dataclass(frozen=True)
class KittiOdometrySource(Framing):
    """A KITTI odometry sequence folder (calib.txt, poses.txt, image folder)."""

    path: str
    image_dir: str = ''
    type: Literal['kitti_odometry'] = 'kitti_odometry'


@dataclass(frozen=True)
class CityscapesSource:
    """Cityscapes root with leftImg8bit_sequence/<split> and camera/<split>."""

    path: str
    split: str = 'train'
    type: Literal['cityscapes'] = 'cityscapes'


@dataclass(frozen=True)
class RosbagSource(Framing):
    """An image topic of a rosbag2 (sqlite3 or mcap).

    K comes from camera_info (auto-detected when the bag has one) or a camera YAML; odometry is
    optional; every `stride`-th frame between start_s and end_s (0 = to the end) is used, and
    with skip_static, frames where the camera has not moved since the last kept one are dropped.
    camera_in_base: x y z roll pitch yaw of the camera's optical frame in the odometry's child
    frame (the static TF base_link -> camera optical frame, e.g. from `ros2 run tf2_ros
    tf2_echo base_link camera_optical_frame`); empty when the odometry is the camera's own
    pose. Poses (pose_source: poses, metric scale) are the odometry's times this offset.
    """

    path: str
    image_topic: str
    camera_info_topic: str = ''
    intrinsics: str = ''
    odom_topic: str = ''
    stride: int = 1
    start_s: float = 0.0
    end_s: float = 0.0
    skip_static: bool = True
    camera_in_base: tuple[float, ...] = ()
    type: Literal['rosbag'] = 'rosbag'


@dataclass(frozen=True)
class RgbdSource(Framing):
    """An RGB-D folder pair: colour frames and uint16 depth PNGs of the same names.

    Depth is `value / depth_scale` metres (e.g. 1000 per metre); 0 and 65535 are invalid.
    """

    path: str
    depth_path: str
    intrinsics: str
    depth_scale: float = 1000.0
    type: Literal['rgbd'] = 'rgbd'


@dataclass(frozen=True)
class DepthFramesSource:
    """Single frames with depth ground truth, each from its own camera (evaluation only).

    `path` holds one folder per frame: `NAME/image/NAME.png`, `NAME/depth/NAME.png` (uint16,
    metres x depth_scale, 0 = no return) and `NAME/camera.yaml` (ROS camera_info). This is the
    layout of ../shared/data/eval_mix: places no training clip shows, scored frame by frame.
    """

    path: str
    depth_scale: float = 256.0
    type: Literal['depth_frames'] = 'depth_frames'


@dataclass(frozen=True)
class SyntheticSource:
    """Procedural scenes with exact depth, poses and moving-object masks."""

    seed: int = 0
    num_clips: int = 2
    num_frames: int = 24
    height: int = 96
    width: int = 256
    num_movers: int = 3
    vehicle_look: bool = True
    type: Literal['synthetic'] = 'synthetic'


SourceConfig = (FolderSource | VideoSource | KittiRawSource | KittiSplitSource
                | KittiOdometrySource
                | CityscapesSource | RosbagSource | RgbdSource | DepthFramesSource
                | SyntheticSource)
SOURCE_TYPES: dict[str, type] = {
    'folder': FolderSource, 'video': VideoSource, 'kitti_raw': KittiRawSource,
    'kitti_split': KittiSplitSource,
    'kitti_odometry': KittiOdometrySource, 'cityscapes': CityscapesSource,
    'rosbag': RosbagSource, 'rgbd': RgbdSource, 'depth_frames': DepthFramesSource,
    'synthetic': SyntheticSource,
}


@dataclass(frozen=True)
class DataConfig:
    """What to train on and how each sample is cut.

    eval_sources are scored every epoch (metrics `eval_*`); unseen_sources too (`unseen_*`):
    places no training clip shows (e.g. ../shared/data/eval_mix), where a gain that one street
    does not show is told from overfitting to it. Each set is reported beside its own
    constant-depth and depth-by-row priors.
    Frames are first resized to base_width x base_height (the network's full-frame input size at
    inference); random resize by s in [scale_min, scale_max] and a crop_width x crop_height crop
    follow. base_width/base_height 0 (the default) take the first source's aspect at
    `input_pixels` (`input_size_for`), so a 4:3 or 16:9 camera keeps its shape; crop sizes 0
    are the base size (no crop: the recipe's choice, scale_min = scale_max = 1).
    frame_offsets lists the neighbours of the target frame t (e.g. -1, 1); with
    neighbours: motion only their directions count, and each target takes the nearest frame in
    that direction at least neighbour_motion_m away by odometry (neighbour_flow_px of median
    optical flow at the base width without poses), at most neighbour_max_gap frames away
    (svde_training/data/neighbours.py). camera_height_m: the camera's height above a flat ground
    (0 = unknown); the metric-scale source when the clips have no odometry.
    sampling: how training targets are drawn. 'frames': every target frame equally often, so a
    long recording drowns a short one; 'sources': every configured source equally often
    (frames within a source equally often), so a short clip of the scenes that matter keeps
    its share beside an hour of highway.
    """

    sources: tuple[SourceConfig, ...] = (SyntheticSource(),)
    eval_sources: tuple[SourceConfig, ...] = ()
    unseen_sources: tuple[SourceConfig, ...] = ()
    frame_offsets: tuple[int, ...] = (-1, 1)
    neighbours: Literal['fixed', 'motion'] = 'fixed'
    sampling: Literal['frames', 'sources'] = 'frames'
    neighbour_motion_m: float = 0.5
    neighbour_flow_px: float = 3.0
    neighbour_max_gap: int = 10
    base_height: int = 0
    base_width: int = 0
    input_pixels: int = 320 * 96
    crop_height: int = 0
    crop_width: int = 0
    scale_min: float = 1.0
    scale_max: float = 1.0
    flip_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.1
    num_workers: int = 0
    camera_height_m: float = 0.0


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and the warping ablation switch.

    hole_weight: forward warping charges each destination pixel that receives nothing the
    photometric error of the unwarped frame there, times this (0 = holes are free, as before).
    gauge_weight: weight of the term that holds the batch's mean log disparity at
    `gauge_target` of the level range (0 far end, 1 near end; losses.gauge_term; 0 = off, the
    default: measured, it did not help, docs/results/README.md).
    full_resolution: every scale's prediction is upsampled and compared with the input-size
    frames (Monodepth2); False compares each scale with frames downsampled to it.
    warping: 'backward' (Monodepth2's, the default) or 'forward' (the paper's). Forward was the
    default until it was measured one at a time on the reproduced Monodepth2 baseline: at 300
    steps it scored 0.39 on eval_mix against the baseline's 0.27-0.28 (docs/results/README.md).
    """

    warping: Literal['forward', 'backward'] = 'backward'
    ssim_weight: float = 0.85
    smoothness_weight: float = 1e-3
    occlusion_sharpness: float = 20.0
    landed_min_mass: float = 0.25
    top_k: int = 0
    hole_weight: float = 1.0
    gauge_weight: float = 0.0
    gauge_target: float = 0.5
    full_resolution: bool = True


@dataclass(frozen=True)
class MaskingConfig:
    """Which pixels leave the view-synthesis loss as moving (the stage-2 switch).

    mode: auto (Monodepth2 auto-masking: pixels that a static camera explains better than the
    warp; the default), none (every pixel), spimo (SPIMO masks from `svde-train masks`, read
    from masks_dir; `pipeline: full` fills it in).
    with_auto (mode spimo only): also apply auto-masking, so that stage 2 differs from the
    recipe by the movers alone. The paper's stage 2 (off) drops auto-masking with the masks,
    which changes two things at once on top of an auto-masked recipe.
    """

    mode: Literal['none', 'auto', 'spimo'] = 'auto'
    masks_dir: str = ''
    with_auto: bool = False


@dataclass(frozen=True)
class BoostConfig:
    """Boosting of the SPIMO-masked pixels (weight 0 turns it off).

    Pseudo-labels come from the network's own predictions fused over enlargements `scales`
    (and mirrored when `flip`) of a teacher: the network frozen as it was at the start of the
    epoch. It starts at epoch `start_epoch` (0-based): the 1/s correction of an enlarged view
    is only right once the network has learned that enlarged crops look nearer.
    teacher: 'epoch' refreshes the teacher at the start of every epoch; 'fixed' keeps the one
    taken at start_epoch (the README's first lead against stage 2 flattening). average:
    'moving' averages the boost term over the masked pixels; 'all' over every pixel, so its
    weight does not grow as the masks shrink (the second lead).
    """

    weight: float = 0.0
    scales: tuple[float, ...] = (1.0, 1.25)
    flip: bool = True
    start_epoch: int = 0
    teacher: Literal['epoch', 'fixed'] = 'epoch'
    average: Literal['moving', 'all'] = 'moving'


@dataclass(frozen=True)
class PoseNoise:
    """Drift added to known poses (pose_source: poses), drawn per training pair.

    translation: relative std of the pair's translation (its length and direction, as a wheel
    odometry's slip and scale error); rotation_deg: std of a rotation about each axis. 0 and 0
    use the poses as recorded.
    """

    translation: float = 0.0
    rotation_deg: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation schedule. steps_per_epoch 0 means one pass over the data.

    The learning rate rises linearly over the first `warmup_steps` steps, then is multiplied
    by `lr_gamma` every `lr_step_epochs` epochs (0: never). A pretrained encoder
    (model.encoder other than 'paper') learns at `encoder_lr_scale` x that rate. `last.pt` is
    written every `checkpoint_every_steps` steps and at least every
    `checkpoint_every_minutes` of wall time (0: off), so a killed run loses little.
    `snapshot_epochs` lists the epochs whose deployable model is kept as
    `checkpoints/model_epoch_NNN.pt` (for learning curves). `channels_last` stores the
    networks' weights and activations NHWC (oneDNN's and tensor cores' preferred layout; on by
    default, same losses); `compile` runs the depth network through `torch.compile` (off: a
    minute of compiling and a larger footprint for a gain within noise).
    `benchmarks/train_step.py` measures both (docs/results/README.md).
    """

    batch_size: int = 4
    epochs: int = 12
    steps_per_epoch: int = 50
    lr: float = 1e-4
    encoder_lr_scale: float = 0.2
    lr_step_epochs: int = 0
    lr_gamma: float = 0.5
    warmup_steps: int = 0
    weight_decay: float = 0.0
    mixed_precision: bool = False
    seed: int = 0
    checkpoint_every_steps: int = 50
    checkpoint_every_minutes: float = 10.0
    snapshot_epochs: tuple[int, ...] = ()
    channels_last: bool = True
    compile: bool = False


@dataclass(frozen=True)
class EvalConfig:
    """Depth evaluation against ground truth (Eigen protocol): frames used and depth cap."""

    max_frames: int = 16
    min_depth: float = 1e-3
    max_depth: float = 80.0
    garg_crop: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """The root of a training run's configuration.

    pipeline: stage1 trains one network as `masking` and `boost` say; full runs stage 1
    (no mask) -> SPIMO masks -> stage 2 from scratch (masking.mode, boost) in one run folder.
    pose_translation_scale: PoseNet's output factor for translation (svde_ros.model.pose_net).
    Depth and translation share one free scale; this factor sets where in the depth range the
    depth settles. 0.01 is Monodepth2's and the recipe's (with its sigmoid head); with AQUANet
    levels and the conv PoseNet, 0.01 left the depth against the near end and 0.1 did better
    (docs/results/README.md).
    pose_rotation_scale: PoseNet's output factor for rotation (radians per unit output). 0.01 is
    Monodepth2's, sized for a car's degree or two between frames; a handheld camera turns
    several degrees between the frames it trains on and needs more (docs/results/README.md, "Learn
    from any camera").
    pose_gauge: 'per_source' multiplies PoseNet's translation by a learnt factor per training
    source (exp of a log-scale starting at 0), so cameras that move at different speeds between
    their neighbours need not share PoseNet's one gauge (docs/results/README.md, "Learn from any
    camera"); 'shared' (the default) has none.
    pose_encoder: 'resnet18' (Monodepth2's: ResNet-18 on the pair + a conv decoder; the
    default) or 'convs' (a plain 7-layer conv stack with camera channels, scaled by
    pose_width; it kept the reproduced baseline from learning at first).
    The defaults are `config/recipe.yaml`'s choices, the measured winner (docs/training.md),
    but for pose_source (below); `config/paper.yaml` is the paper's full pipeline.
    pose_source: 'posenet' learns the motion between frames; 'poses' warps with the clips'
    own ego-motion (KITTI poses, a folder's `poses`, a bag's odometry), so depth is metric
    from the first step and the depth/motion scale ambiguity is gone. Every training clip must
    have poses then; `pose_noise` adds odometry-like drift to them (to measure how good the
    odometry must be). 'mixed' warps each clip with its own poses where it has them and with
    PoseNet's where it has none; the clips with poses fix the gauge, so depth is metric too.
    'flow' takes each pair's rotation, and its direction of travel where the parallax allows,
    from the images' own geometry (svde_training/flow_poses.py) and PoseNet's translation length
    (its whole motion where the geometry is uncertain): no odometry needed, not metric.
    'auto' (the default) uses what each clip has: its own poses where it has them (as mixed;
    metric), the images' geometry where it has none (as flow). PoseNet alone lost to both on
    every setting measured (issue 42, docs/results/pose_from_flow.md); the recipe's configs,
    measured with PoseNet, keep it.
    flow_fixes: what of the geometry pose_source flow uses: 'rotation_and_direction' (PoseNet
    learns the translation's length) or 'rotation' (PoseNet learns the whole translation;
    indoors at one frame apart the geometry's direction is 58 degrees off, its rotation 0.23).
    known_translation: the length, in the network's depth units, that the median known
    translation between training pairs is given. Known motion is in metres, and metres a frame
    on a road (about 1 m, depth 5-80 m) sit far from the sigmoid head's start (depth 0.2): the
    warp then throws every pixel out of the frame and the depth never leaves the near end
    (docs/results). Dividing the poses by (median translation / known_translation) puts any
    robot's scene where a handheld camera's already is (0.05 is the kitchen walk's 5.5 cm);
    the factor, in metres per unit, is the model's depth_scale, so the output stays metric.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pose_encoder: Literal['convs', 'resnet18'] = 'resnet18'
    pose_width: float = 1.0
    pose_translation_scale: float = 0.01
    pose_rotation_scale: float = 0.01
    pose_gauge: Literal['shared', 'per_source'] = 'shared'
    pose_source: Literal['posenet', 'poses', 'mixed', 'flow', 'auto'] = 'auto'
    flow_fixes: Literal['rotation_and_direction', 'rotation'] = 'rotation_and_direction'
    known_translation: float = 0.05
    pose_noise: PoseNoise = field(default_factory=PoseNoise)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    spimo: SpimoConfig = field(default_factory=SpimoConfig)
    boost: BoostConfig = field(default_factory=BoostConfig)
    pipeline: Literal['stage1', 'full'] = 'stage1'

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to config.yaml in the run folder and into checkpoints."""
        return _to_plain(self)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    return value


def _describe(value: Any) -> str:
    return f'{type(value).__name__} {value!r}'


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against the type `hint`; return it in the dataclass's form."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        if value not in typing.get_args(hint):
            choices = ', '.join(repr(c) for c in typing.get_args(hint))
            raise ConfigError(f'{key}: expected one of {choices}, got {value!r}')
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if all(dataclasses.is_dataclass(a) for a in args):
            return _source(value, key)
        if value is None and type(None) in args:
            return None
        return _convert(value, next(a for a in args if a is not type(None)), key)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{key}: expected a list, got {_describe(value)}')
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f'{key}[{i}]') for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f'{key}: expected {len(args)} values, got {len(value)}')
        return tuple(_convert(v, a, f'{key}[{i}]') for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{key}: expected true or false, got {_describe(value)}')
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{key}: expected an integer, got {_describe(value)}')
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{key}: expected a number, got {_describe(value)}')
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f'{key}: expected a string, got {_describe(value)}')
        return value
    raise ConfigError(f'{key}: unsupported type {hint}')


def _source(value: Any, key: str) -> Any:
    if not isinstance(value, dict) or 'type' not in value:
        raise ConfigError(f'{key}: a data source needs a `type` ({", ".join(SOURCE_TYPES)})')
    kind = value['type']
    if kind not in SOURCE_TYPES:
        raise ConfigError(f'{key}.type: unknown source type {kind!r}; choose one of '
                          f'{", ".join(SOURCE_TYPES)}')
    return _build(SOURCE_TYPES[kind], value, key)


def _build(cls: type, data: Any, key: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise ConfigError(f'{key or "config"}: expected a mapping, got {_describe(data)}')
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for name, value in data.items():
        path = f'{key}.{name}' if key else str(name)
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f' (did you mean {close[0]!r}?)' if close else ''
            raise ConfigError(f'unknown key {path!r}{hint}')
        kwargs[name] = _convert(value, hints[name], path)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f'{key or "config"}: missing required key(s) {", ".join(missing)}')
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'{key or "config"}: {err}') from err


def validate(config: TrainConfig) -> TrainConfig:
    """Cross-field checks that single keys cannot express."""
    d = config.data
    stride = OUTPUT_STRIDE
    for name in ('crop_height', 'crop_width', 'base_height', 'base_width'):
        if getattr(d, name) < 0 or getattr(d, name) % stride:
            raise ConfigError(f'data.{name}: must be a positive multiple of {stride} (or 0: '
                              f'automatic), got {getattr(d, name)}')
    if (d.base_height == 0) != (d.base_width == 0) or (d.crop_height == 0) != (d.crop_width == 0):
        raise ConfigError('data.base_height/base_width and crop_height/crop_width: give both '
                          'of a pair, or neither (0: automatic)')
    if d.input_pixels < stride * stride:
        raise ConfigError(f'data.input_pixels: must be at least {stride * stride}, got '
                          f'{d.input_pixels}')
    if not 0 < d.scale_min <= d.scale_max:
        raise ConfigError(f'data.scale_min/scale_max: need 0 < min <= max, got '
                          f'{d.scale_min}, {d.scale_max}')
    if d.base_height and d.crop_height and (d.base_height * d.scale_min < d.crop_height
                                            or d.base_width * d.scale_min < d.crop_width):
        raise ConfigError(f'data.scale_min: {d.scale_min} x base {d.base_width}x'
                          f'{d.base_height} is smaller than the crop '
                          f'{d.crop_width}x{d.crop_height}')
    if not d.frame_offsets or 0 in d.frame_offsets:
        raise ConfigError('data.frame_offsets: list the neighbours of frame t, e.g. [-1, 1] '
                          '(non-empty, no 0)')
    if not d.sources:
        raise ConfigError('data.sources: at least one source is needed')
    if d.neighbour_motion_m <= 0 or d.neighbour_flow_px <= 0 or d.neighbour_max_gap < 1:
        raise ConfigError('data.neighbour_motion_m and neighbour_flow_px must be > 0 and '
                          'neighbour_max_gap >= 1')
    if d.camera_height_m < 0:
        raise ConfigError(f'data.camera_height_m: must be >= 0 (0 = unknown), got '
                          f'{d.camera_height_m}')
    if config.optim.batch_size < 1 or config.optim.epochs < 1:
        raise ConfigError('optim.batch_size and optim.epochs must be >= 1')
    if config.optim.encoder_lr_scale <= 0:
        raise ConfigError(f'optim.encoder_lr_scale: must be > 0, got '
                          f'{config.optim.encoder_lr_scale}')
    if config.optim.warmup_steps < 0:
        raise ConfigError(f'optim.warmup_steps: must be >= 0, got {config.optim.warmup_steps}')
    if config.loss.top_k < 0 or config.loss.top_k > config.model.num_levels:
        raise ConfigError(f'loss.top_k: must be in 0..model.num_levels, got {config.loss.top_k}')
    if config.pipeline == 'stage1' and config.masking.mode == 'spimo' \
            and not config.masking.masks_dir:
        raise ConfigError('masking.masks_dir: mode spimo needs the folder written by '
                          '`svde-train masks` (or use pipeline: full)')
    if config.pipeline == 'full' and config.masking.mode == 'none':
        raise ConfigError('masking.mode: pipeline full trains stage 2 with masks; choose spimo '
                          '(the paper) or auto (the Monodepth2 baseline)')
    if config.boost.weight < 0 or not config.boost.scales or min(config.boost.scales) <= 0:
        raise ConfigError('boost: weight must be >= 0 and scales positive and non-empty')
    if config.masking.with_auto and config.masking.mode != 'spimo':
        raise ConfigError('masking.with_auto: adds auto-masking to the masks of mode spimo; '
                          'mode auto already auto-masks')
    if config.boost.weight > 0 and config.masking.mode != 'spimo':
        raise ConfigError('boost.weight: boosting supervises the SPIMO-masked pixels of frame '
                          't; set masking.mode to spimo')
    if config.pose_translation_scale <= 0 or config.pose_rotation_scale <= 0:
        raise ConfigError('pose_translation_scale and pose_rotation_scale: must be > 0, got '
                          f'{config.pose_translation_scale} and {config.pose_rotation_scale}')
    if not config.known_translation > 0:
        raise ConfigError(f'known_translation: must be > 0, got {config.known_translation}')
    if config.pose_noise.translation < 0 or config.pose_noise.rotation_deg < 0:
        raise ConfigError('pose_noise: translation and rotation_deg must be >= 0')
    if config.spimo.delta <= 0 or not 0 < config.spimo.scale <= 1 or config.spimo.threshold <= 0:
        raise ConfigError('spimo: need delta > 0, 0 < scale <= 1 and threshold > 0')
    return config


def input_size_for(width: int, height: int, pixels: int,
                   stride: int = OUTPUT_STRIDE) -> tuple[int, int]:
    """The network input (height, width) for frames of `width` x `height`.

    Sides are multiples of `stride`; of the sizes within 3/4 .. 4/3 of `pixels`, the one
    closest to the frames' aspect (then to `pixels`), so that a 4:3 or 16:9 camera is not
    squeezed into another shape: KITTI's 1226x370 gives 96x320, 640x480 gives 160x224 and
    1280x720 gives 128x224 at 320 x 96 pixels.
    """
    aspect = width / height
    sizes = [(h, w) for h in range(stride, 64 * stride + 1, stride)
             for w in range(stride, 64 * stride + 1, stride)
             if 0.75 <= h * w / pixels <= 4 / 3]
    if not sizes:
        side = max(stride, int(round(pixels ** 0.5 / stride)) * stride)
        return side, side
    return min(sizes, key=lambda hw: (round(abs(np.log(hw[1] / hw[0] / aspect)), 6),
                                      abs(np.log(hw[0] * hw[1] / pixels))))


def with_input_size(config: TrainConfig, width: int, height: int) -> TrainConfig:
    """`config` with an automatic base size (0) set for frames of `width` x `height`.

    An automatic crop is the base size. A config whose sizes are all given is returned as is.
    """
    d = config.data
    base_h, base_w = ((d.base_height, d.base_width) if d.base_height
                      else input_size_for(width, height, d.input_pixels))
    crop_h, crop_w = (d.crop_height, d.crop_width) if d.crop_height else (base_h, base_w)
    data = dataclasses.replace(d, base_height=base_h, base_width=base_w, crop_height=crop_h,
                               crop_width=crop_w)
    return validate(dataclasses.replace(config, data=data))


def config_from_dict(data: dict[str, Any] | None, origin: str = '<dict>') -> TrainConfig:
    """Build and validate a TrainConfig; errors name `origin` and the key."""
    try:
        return validate(_build(TrainConfig, data or {}, ''))
    except ConfigError as err:
        raise ConfigError(f'{origin}: {err}') from None


BASE_KEY = 'base'


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into `base`: mappings key by key, anything else (lists too) replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_config_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping with its `base:` files merged under it (checked file by file)."""
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}' + (
            f' (the base of {chain[-1]})' if chain else ''))
    if path.resolve() in chain:
        raise ConfigError(f'{path}: `base` chain loops ({" -> ".join(map(str, chain))})')
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f'{path}: not valid YAML: {err}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping, got {_describe(data)}')
    base = data.pop(BASE_KEY, None)
    try:
        _build(TrainConfig, data, '')     # unknown keys and wrong types, named in this file
    except ConfigError as err:
        raise ConfigError(f'{path}: {err}') from None
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f'{path}: base: expected a file name, got {_describe(base)}')
    return merge(read_config_yaml(path.parent / base, (*chain, path.resolve())), data)


def nested(key: str, value: Any) -> dict[str, Any]:
    """`a.b.c`, v as {'a': {'b': {'c': v}}}, for `merge`."""
    for part in reversed(key.split('.')):
        value = {part: value}
    return value


def parse_override(text: str) -> dict[str, Any]:
    """`key.path=value` (value in YAML syntax) as a nested mapping for `merge`."""
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise ConfigError(f'--set {text!r}: expected key.path=value, e.g. optim.lr=1e-4')
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ConfigError(f'--set {text!r}: value is not valid YAML: {err}') from None
    return nested(key.strip(), parsed)


def load_config(path: str | Path, overrides: tuple[str, ...] = ()) -> TrainConfig:
    """Read a training YAML file, its `base:` chain, and `key.path=value` overrides."""
    path = Path(path)
    data = read_config_yaml(path)
    for text in overrides:
        data = merge(data, parse_override(text))
    origin = f'{path} with --set {", ".join(overrides)}' if overrides else str(path)
    return config_from_dict(data, origin)


# Keys a run folder or checkpoint written before they existed was trained without: their value
# then, where today's default differs (PoseNet's translation factor was fixed at 0.01).
LEGACY_VALUES: dict[str, Any] = {'pose_translation_scale': 0.01, 'pose_rotation_scale': 0.01}


def stored_config(data: dict[str, Any], origin: str = 'stored config') -> TrainConfig:
    """The config a run folder or checkpoint was trained with (older ones included)."""
    return config_from_dict({**LEGACY_VALUES, **data}, origin)


def normalized(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config with today's defaults filled in (for comparing runs)."""
    return stored_config(data).to_dict()
