"""Moving-object masks on real video: how much of real moving cars they flag, and of static scenes.

Both of the node's methods (`mask_method`): the geometric mask (svde_ros/motion/: the
flow observed against the flow the predicted depth and the ego-motion explain, each frame
against the one 0.1 s earlier) and SPIMO (dispersion under shifted positional channels).

Moving: the Udacity highway clip (../shared/data/udacity_highway), where every car on the
road moves, with the vehicles boxed by hand in 11 frames (data/udacity_highway_vehicles.json,
method written there) and named by kind (followed, overtaking, oncoming). The frames are
undistorted and cut to the band above the hood exactly as config/real_video.yaml trains on
them; the boxes are rasterised, undistorted and cut the same way. Per threshold it prints the
mean share of a vehicle's box that the mask flags (a lower bound: a box also holds road and
sky), per kind, and the share of flagged pixels outside every box.

Static: the bundled demo bag, the KITTI odometry clip and KITTI raw drive 0023, where the
camera moves and nothing else does, so every flagged pixel is a false positive: the mean
share flagged and the worst frame's.

The goal (issue 36): for each method, the lowest threshold that flags <= 5% of static scenes
on average and <= 10% in any frame, and there >= 50% of the vehicles' pixels. The last line
gives the verdict for the node's default method.

    python benchmarks/real_masks.py [--model models/kitti_odometry_320x96.pt]
        [--png docs/real_masks.png] [--methods spimo --spimo-delta 0.3 --spimo-scale 1]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from shared_data import SHARED_DATA, read_rgb, require

from svde_ros.geometry import Intrinsics
from svde_ros.model.checkpoint import CheckpointError, InferenceSpec, load_depth_net
from svde_ros.model.depth_net import DepthNet
from svde_ros.model.predict import predict_depth
from svde_ros.motion.mask import MotionMaskConfig
from svde_ros.motion.stream import MotionGeometry, mask_of_pair
from svde_ros.preprocess import resize_frame
from svde_ros.ros.params import DEFAULT_MASK_METHOD
from svde_ros.spimo import SpimoConfig, spimo_dispersion
from svde_training.config import VideoSource, load_config
from svde_training.data import DataError, build_clips
from svde_training.data.clip import Clip
from svde_training.data.folder import FolderClip, load_camera
from svde_training.data.kitti import KittiRawClip
from svde_training.data.rosbag import RosbagClip
from svde_training.masks import overlay, resize_mask
from svde_training.preview import write_png

REPO = Path(__file__).resolve().parents[1]
ANNOTATIONS = REPO / 'data/udacity_highway_vehicles.json'
THRESHOLDS = {'motion': (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
              'spimo': (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)}
STATIC_MEAN, STATIC_WORST, VEHICLE_GOAL = 0.05, 0.10, 0.50
PANEL_WIDTH = 960                 # pixels; the panel goes into docs/
HIGHWAY_FPS = 25.0
# davis_movers has no intrinsics: a 60-degree horizontal field of view (its README's guess).
DAVIS_FX = 740.0
DAVIS_FPS = 24.0
DAVIS_CLIPS = ('breakdance', 'dance-twirl', 'blackswan', 'dog', 'libby')
# The node's default on every clip (issue 41): static pixels flagged, mean and worst frame;
# movers flagged (the highway's vehicles, each DAVIS clip's object; breakdance, the still
# camera, higher); frames without a verdict on the highway.
MOVER_GOAL, STILL_MOVER_GOAL, NO_VERDICT_GOAL = 0.50, 0.80, 0.10
class Frame(NamedTuple):
    """One frame as the network is served it, the frame `interval_s` before, its movers."""

    rgb: np.ndarray
    K: Intrinsics
    earlier: np.ndarray           # the frame the motion mask compares it with
    vehicles: list[tuple[str, np.ndarray]]   # (kind, bool mask at the frame's size)


def with_earlier(clip: Clip, index: int, fps: float,
                 vehicles: list[tuple[str, np.ndarray]]) -> Frame:
    """Frame `index` of `clip` with the newest one at least interval_s before it.

    A clip's first frames have none; they take the frame as far after them instead (the
    geometry is the same, in reverse).
    """
    gap = max(1, math.ceil(MotionMaskConfig().interval_s * fps - 1e-6))
    other = index - gap if index >= gap else index + gap
    return Frame(clip.image(index), clip.intrinsics(index), clip.image(other), vehicles)


def static_clips() -> list[tuple[str, Clip, int, float]]:
    """The clips where nothing but the camera moves, as (name, clip, step, fps).

    The demo bag, every 5th frame of the odometry clip, all of drive 0023.
    """
    bag = RosbagClip(REPO / 'data/demo/kitti_odometry_demo', '/camera/image_raw/compressed',
                     skip_static=False)
    odometry = FolderClip(SHARED_DATA / 'kitti_odometry_clip/image_l',
                          REPO / 'config/kitti_odometry_camera.yaml')
    raw = KittiRawClip(SHARED_DATA / 'kitti_raw_tiny/2011_09_26/2011_09_26_drive_0023_sync')
    return [('demo bag', bag, 1, 5.0), ('KITTI odometry clip', odometry, 5, 10.0),
            ('KITTI raw 0023', raw, 1, 10.0)]


def static_sequences() -> dict[str, list[Frame]]:
    """The static clips' scored frames, each with its earlier frame."""
    return {name: [with_earlier(clip, i, fps, []) for i in range(0, len(clip), step)]
            for name, clip, step, fps in static_clips()}


def highway_clip() -> tuple[Clip, dict[int, list[tuple[str, np.ndarray]]]]:
    """The highway clip as training sees it, and the annotated frames' vehicle masks."""
    require(SHARED_DATA / 'udacity_highway')
    config = load_config(REPO / 'config/real_video.yaml')
    source = next(s for s in config.data.sources if isinstance(s, VideoSource))
    source = dataclasses.replace(source, path=str(REPO / source.path),
                                 intrinsics=str(REPO / source.intrinsics))
    [clip] = build_clips(source)
    notes = json.loads(ANNOTATIONS.read_text())
    width, height = notes['image_size']
    camera = load_camera(source.intrinsics, str(ANNOTATIONS), (width, height))
    c = source.crop
    annotated = {}
    for index, boxes in sorted(notes['frames'].items(), key=lambda kv: int(kv[0])):
        vehicles = []
        for kind, (x0, y0, x1, y1) in boxes.items():
            raw = np.zeros((height, width), np.uint8)
            raw[y0:y1, x0:x1] = 1
            mask = camera.undistort(raw, cv2.INTER_NEAREST)
            vehicles.append((kind, mask[c.top:height - c.bottom, c.left:width - c.right] > 0))
        annotated[int(index)] = vehicles
    return clip, annotated


def highway_frames() -> list[Frame]:
    """The annotated highway frames as training sees them, with their vehicles' masks."""
    clip, annotated = highway_clip()
    return [with_earlier(clip, index, HIGHWAY_FPS, vehicles)
            for index, vehicles in annotated.items()]


class Sequence(NamedTuple):
    """A clip played in time order through the node's motion geometry, and what is scored.

    frames: (index, rgb, K) in time order; fps; scored: index -> movers ((kind, bool mask at
    the frame's size); empty: a static scene); objects: whether the movers are object masks
    (DAVIS) rather than vehicle boxes.
    """

    name: str
    frames: Iterator[tuple[int, np.ndarray, Intrinsics]]
    fps: float
    scored: dict[int, list[tuple[str, np.ndarray]]]
    objects: bool = False


def clip_frames(clip: Clip, last: int) -> Iterator[tuple[int, np.ndarray, Intrinsics]]:
    """Frames 0..last of a clip, decoded one at a time."""
    for i in range(last + 1):
        yield i, clip.image(i), clip.intrinsics(i)


def davis_frames(folder: Path) -> Iterator[tuple[int, np.ndarray, Intrinsics]]:
    """A davis_movers clip's frames with the assumed K (DAVIS_FX, centred)."""
    for i, path in enumerate(sorted((folder / 'image').glob('*.jpg'))):
        rgb = read_rgb(path)
        h, w = rgb.shape[:2]
        yield i, rgb, Intrinsics(DAVIS_FX, DAVIS_FX, (w - 1) / 2, (h - 1) / 2, w, h)


def sequences() -> list[Sequence]:
    """Every clip the node's default is scored on (issue 41), static ones first."""
    out = [Sequence(name, clip_frames(clip, len(clip) - 1), fps,
                    {i: [] for i in range(0, len(clip), step)})
           for name, clip, step, fps in static_clips()]
    highway, annotated = highway_clip()
    out.append(Sequence('highway', clip_frames(highway, max(annotated)), HIGHWAY_FPS,
                        annotated))
    root = require(SHARED_DATA / 'davis_movers')
    for name in DAVIS_CLIPS:
        masks = {i: [('object', read_mask(path))]
                 for i, path in enumerate(sorted((root / name / 'mask').glob('*.png')))}
        out.append(Sequence(name, davis_frames(root / name), DAVIS_FPS, masks, True))
    return out


def read_mask(path: Path) -> np.ndarray:
    """A DAVIS object mask as HxW bool."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DataError(f'{path}: not a readable mask')
    return mask > 127


@torch.no_grad()
def play(net: DepthNet, spec: InferenceSpec, sequence: Sequence) -> dict[str, object]:
    """The node's default mask on every scored frame of a sequence.

    Returns static (share of static pixels flagged per scored frame with a verdict; static:
    outside the movers, dilated), movers (share of each mover's pixels flagged; a frame
    without a verdict flags nothing, as the node then publishes zeros), states (Counter of
    the scored frames' motion states), no_verdict (scored frames without a mask) and view
    (the middle scored frame with its mask in red, the movers outlined in green).
    """
    stream = MotionGeometry(MotionMaskConfig())
    shown = sorted(sequence.scored)[len(sequence.scored) // 2]
    view = np.zeros((1, 1, 3), np.uint8)
    static: list[float] = []
    movers: list[float] = []
    states: Counter = Counter()
    none = 0
    for index, rgb, K in sequence.frames:
        image, cam, K_small = served(rgb, K, spec)
        depth = predict_depth(net, image[0], cam[0], (spec.input_height, spec.input_width))
        result = stream.update(rgb, index / sequence.fps, depth.numpy(), K_small.matrix(),
                               fused=False)
        if index not in sequence.scored:
            continue
        states[result.state] += 1
        h, w = depth.shape
        mask = result.mask if result.mask is not None else np.zeros((h, w), bool)
        none += result.mask is None
        boxes = [resize_mask(m, w, h) for _, m in sequence.scored[index]]
        for box in boxes:
            if box.any():
                movers.append(float(mask[box].mean()))
        anywhere = np.logical_or.reduce(boxes) if boxes else np.zeros((h, w), bool)
        keep_out = cv2.dilate(anywhere.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if result.mask is not None:
            static.append(float(mask[~keep_out].mean()))
        if index == shown:
            view = outlined(overlay(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA), mask),
                            Frame(rgb, K, rgb, sequence.scored[index]))
    return {'static': static, 'movers': movers, 'states': states, 'no_verdict': none,
            'scored': len(sequence.scored), 'view': view}


def node_default_report(net: DepthNet, spec: InferenceSpec, png: Path | None = None) -> bool:
    """The node's default (motion mask, its default threshold) on every clip; True if met.

    With `png`, a panel of each driving clip's middle scored frame (mask red, movers outlined
    green); the DAVIS clips' frames are research-only and stay out of images that may be shared.
    """
    views = []
    threshold = MotionMaskConfig().threshold
    print(f'\nnode default: motion mask at {threshold:g}, each clip played in time order '
          f'(DAVIS: fx {DAVIS_FX:g} assumed, {DAVIS_FPS:g} fps)\n')
    print('| clip | static flagged, mean / worst frame | movers flagged | frames without a '
          'verdict | states |')
    print('|---|---|---|---|---|')
    failures = []
    for sequence in sequences():
        r = play(net, spec, sequence)
        if not sequence.objects:     # DAVIS frames are research-only: not in the repo's images
            views.append(r['view'])
        static, movers = r['static'], r['movers']
        assert isinstance(static, list) and isinstance(movers, list)
        mean = float(np.mean(static)) if static else 0.0
        worst = float(np.max(static)) if static else 0.0
        flagged = float(np.mean(movers)) if movers else float('nan')
        states = r['states']
        assert isinstance(states, Counter)
        print(f'| {sequence.name} | {mean:.3f} / {worst:.3f} | '
              + (f'{flagged:.3f}' if movers else '-') + f' | {r["no_verdict"]} of '
              f'{r["scored"]} | ' + ', '.join(f'{k} {v}' for k, v in sorted(states.items()))
              + ' |', flush=True)
        if mean > STATIC_MEAN or worst > STATIC_WORST:
            failures.append(f'{sequence.name}: static {mean:.3f} / {worst:.3f}')
        goal = STILL_MOVER_GOAL if sequence.name == 'breakdance' else MOVER_GOAL
        if movers and flagged < goal:
            failures.append(f'{sequence.name}: movers {flagged:.3f} < {goal:g}')
        if sequence.name == 'highway' and \
                int(r['no_verdict']) > NO_VERDICT_GOAL * int(r['scored']):   # type: ignore
            failures.append(f'highway: {r["no_verdict"]} frames without a verdict')
    print('misses: ' + ('; '.join(failures) if failures else 'none'))
    if png:
        tiles = [cv2.resize(v, (320, 180)) for v in views if isinstance(v, np.ndarray)]
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 2)
        write_png(png, np.concatenate([np.concatenate(tiles[i:i + 2], 1)
                                       for i in range(0, len(tiles), 2)], 0))
        print(f'wrote {png}', file=sys.stderr)
    return not failures


def served(frame_rgb: np.ndarray, K: Intrinsics,
           spec: InferenceSpec) -> tuple[torch.Tensor, torch.Tensor, Intrinsics]:
    """(image [1,3,h,w], cam [1,2], K) at the model's input size."""
    small, K_small = resize_frame(frame_rgb, K, spec.input_width, spec.input_height)
    image = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255
    return image, torch.tensor([K_small.camera_channels()], dtype=torch.float32), K_small


@torch.no_grad()
def score_maps(net: DepthNet, spec: InferenceSpec, frames: list[Frame],
               method: str, statuses: Counter, spimo: SpimoConfig) -> list[np.ndarray]:
    """Each frame's score at the model's input size: motion score or SPIMO dispersion.

    The motion mask's frames without a verdict (no parallax, no ego-motion) score zero, as
    the node then flags nothing; `statuses` counts them.
    """
    maps = []
    for frame in frames:
        image, cam, K = served(frame.rgb, frame.K, spec)
        if method == 'spimo':
            maps.append(spimo_dispersion(net, image, cam, spimo)[0, 0].numpy())
            continue
        depth = predict_depth(net, image[0], cam[0], (spec.input_height, spec.input_width))
        result = mask_of_pair(MotionMaskConfig(), frame.earlier, frame.rgb, depth.numpy(),
                              K.matrix())
        statuses[result.state] += 1
        maps.append(result.score)
    return maps


def vehicle_scores(frames: list[Frame], maps: list[np.ndarray],
                   threshold: float) -> tuple[dict[str, float], float]:
    """Mean share of the vehicles' boxes flagged, and of flagged pixels outside every box.

    Returns ({kind: mean share, 'all': over every box}, outside share; NaN when nothing is
    flagged).
    """
    shares: dict[str, list[float]] = {}
    flagged = outside = 0
    for frame, m in zip(frames, maps):
        mask = m > threshold
        h, w = mask.shape
        boxes = [(kind, resize_mask(v, w, h)) for kind, v in frame.vehicles]
        for kind, b in boxes:
            if b.any():
                shares.setdefault(kind, []).append(float(mask[b].mean()))
                shares.setdefault('all', []).append(float(mask[b].mean()))
        anywhere = np.logical_or.reduce([b for _, b in boxes]) if boxes else \
            np.zeros_like(mask)
        flagged += int(mask.sum())
        outside += int((mask & ~anywhere).sum())
    return ({k: float(np.mean(v)) for k, v in shares.items()},
            outside / flagged if flagged else float('nan'))


def outlined(image: np.ndarray, frame: Frame) -> np.ndarray:
    """A copy of `image` (HxWx3, any size) with `frame`'s vehicles outlined in green."""
    h, w = image.shape[:2]
    boxed = image.copy()
    for _, v in frame.vehicles:
        contours, _ = cv2.findContours(resize_mask(v, w, h).astype(np.uint8),
                                       cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(boxed, contours, -1, (0, 255, 0), 1)
    return boxed


def panel(frame: Frame, masks: list[np.ndarray]) -> np.ndarray:
    """Panel row: input (vehicles outlined) | each mask over the input, at the input size."""
    h, w = masks[0].shape
    small = cv2.resize(frame.rgb, (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([outlined(small, frame)] + [overlay(small, m) for m in masks], axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', type=Path, default=REPO / 'models/kitti_odometry_320x96.pt')
    parser.add_argument('--png', type=Path,
                        help='panels: input | motion mask | SPIMO mask, each at the lowest '
                             'threshold meeting the static goal (else its default)')
    parser.add_argument('--methods', default=','.join(THRESHOLDS),
                        help='comma-separated methods to measure (default: both)')
    parser.add_argument('--spimo-delta', type=float, help="SPIMO's shift instead of the model's")
    parser.add_argument('--spimo-scale', type=float,
                        help="SPIMO's pass scale instead of the model's")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(',') if m]
    if not methods or set(methods) - set(THRESHOLDS):
        parser.error(f'--methods: choose from {", ".join(THRESHOLDS)}')
    require(SHARED_DATA / 'kitti_odometry_clip')
    try:
        return report(args.model, args.png, methods, args.spimo_delta, args.spimo_scale)
    except (CheckpointError, DataError, OSError, ValueError) as err:   # one line, exit 1
        print(f'real_masks: {err}', file=sys.stderr)
        return 1


def report(model: Path, png: Path | None, methods: list[str], spimo_delta: float | None = None,
           spimo_scale: float | None = None) -> int:
    """Print each method's tables and verdict; write the panels to `png`."""
    net, spec = load_depth_net(model)     # a bad model file fails before the clips are decoded
    own = spec.spimo_config
    spimo = dataclasses.replace(own, delta=own.delta if spimo_delta is None else spimo_delta,
                                scale=own.scale if spimo_scale is None else spimo_scale)
    static, highway = static_sequences(), highway_frames()
    defaults = {'motion': MotionMaskConfig().threshold, 'spimo': spec.spimo_config.threshold}
    verdicts: dict[str, str] = {}
    chosen_masks: dict[str, list[np.ndarray]] = {}
    for method in methods:
        levels = sorted({defaults[method], *THRESHOLDS[method]})
        statuses: Counter = Counter()
        setting = f', delta {spimo.delta:g}, pass scale {spimo.scale:g}' \
            if method == 'spimo' else ''
        print(f'\n{method} ({model.name}; default threshold {defaults[method]:g}{setting}); '
              'share of pixels flagged at threshold\n')
        print(f'| sequence | figure | {" | ".join(f"{t:g}" for t in levels)} |')
        print('|---|---|' + '---|' * len(levels))
        worst = dict.fromkeys(levels, 0.0)
        mean = dict.fromkeys(levels, 0.0)
        for name, frames in static.items():
            maps = score_maps(net, spec, frames, method, statuses, spimo)
            share = {t: [float(np.mean(m > t)) for m in maps] for t in levels}
            for t in levels:
                worst[t] = max(worst[t], max(share[t]))
                mean[t] = max(mean[t], float(np.mean(share[t])))
            for figure, reduce in (('mean', np.mean), ('worst frame', np.max)):
                print(f'| {name} (static, {len(frames)} frames) | {figure} | '
                      + ' | '.join(f'{reduce(share[t]):.3f}' for t in levels) + ' |')
        maps = score_maps(net, spec, highway, method, statuses, spimo)
        scores = {t: vehicle_scores(highway, maps, t) for t in levels}
        for kind in ('all', 'followed', 'overtaking', 'oncoming'):
            print(f'| highway, {len(highway)} frames | {kind} vehicles flagged | '
                  + ' | '.join(f'{scores[t][0].get(kind, float("nan")):.3f}' for t in levels)
                  + ' |')
        print('| highway | flagged outside vehicles | '
              + ' | '.join(f'{scores[t][1]:.3f}' for t in levels) + ' |')
        if method == 'motion':
            print('frames by status: ' + ', '.join(f'{k} {v}' for k, v in statuses.items()))
        ok = [t for t in levels if mean[t] <= STATIC_MEAN and worst[t] <= STATIC_WORST]
        chosen = ok[0] if ok else defaults[method]
        flags = scores[chosen][0]
        met = bool(ok) and flags['all'] >= VEHICLE_GOAL
        verdicts[method] = (
            f'{method}: threshold {chosen:g} ({"the lowest" if ok else "none"} meeting the '
            f'static goal): static mean (worst sequence) {mean[chosen]:.3f}, worst frame '
            f'{worst[chosen]:.3f}; vehicles flagged {flags["all"]:.3f} (followed '
            f'{flags.get("followed", float("nan")):.3f}, overtaking '
            f'{flags.get("overtaking", float("nan")):.3f}, oncoming '
            f'{flags.get("oncoming", float("nan")):.3f}); goal {"met" if met else "not met"}')
        print(verdicts[method])
        chosen_masks[method] = [m > chosen for m in maps]
    if png:
        rows = [panel(highway[i], [chosen_masks[m][i] for m in methods])
                for i in (0, 4, len(highway) // 2 + 1, len(highway) - 1)]
        width = min(PANEL_WIDTH, max(r.shape[1] for r in rows))
        rows = [cv2.resize(r, (width, round(r.shape[0] * width / r.shape[1]))) for r in rows]
        write_png(png, np.concatenate(rows, axis=0))
        print(f'wrote {png}', file=sys.stderr)
    if DEFAULT_MASK_METHOD in verdicts:
        print(f'threshold sweep, node default ({DEFAULT_MASK_METHOD}): '
              f'{verdicts[DEFAULT_MASK_METHOD]}')
    met = node_default_report(net, spec, png.with_name(png.stem + '_default.png')
                              if png else None)
    print('goal met' if met else 'goal not met')
    return 0


if __name__ == '__main__':
    sys.exit(main())
