"""`svde-train`: the command line of the offline pipeline (thin; the work is in the library)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from svde_ros.inference.backend import BackendError
from svde_ros.inference.export import ExportError
from svde_ros.model.checkpoint import (
    CheckpointError,
    InferenceSpec,
    load_depth_net,
    read_checkpoint,
    read_inference_spec,
)
from svde_ros.model.encoders import EncoderWeightsError
from svde_training import distributed, run_dir
from svde_training.config import (
    ConfigError,
    KittiSplitSource,
    RosbagSource,
    config_from_dict,
    load_config,
    merge,
    parse_override,
    stored_config,
)
from svde_training.data import DataError, build_clips

LOG = logging.getLogger('svde_train')
USER_ERRORS = (ConfigError, DataError, CheckpointError, run_dir.RunDirError, BackendError,
               ExportError, EncoderWeightsError)


def cmd_fit(args: argparse.Namespace) -> int:
    """Train from a YAML config into a run folder: stage 1, or the full pipeline."""
    from svde_training.pipeline import run_full_pipeline, train_stage

    if args.config:
        config = load_config(args.config, tuple(args.set))
    else:
        overrides: dict[str, Any] = {}
        for text in args.set:
            overrides = merge(overrides, parse_override(text))
        config = config_from_dict(overrides, 'defaults' + (' with --set' if args.set else ''))
    if args.bag:
        source = RosbagSource(str(args.bag), args.image_topic, args.camera_info_topic,
                              str(args.intrinsics or ''), args.odom_topic,
                              camera_in_base=tuple(args.camera_in_base or ()))
        config = replace(config, data=replace(config.data, sources=(source,)))
    elif not args.config:
        raise ConfigError('give --config FILE, or --bag BAG --image-topic T')
    if args.camera_height is not None:
        config = replace(config, data=replace(config.data, camera_height_m=args.camera_height))
    info = distributed.init_distributed()
    try:
        device = distributed.pick_device(info, args.device)
        if config.pipeline == 'full':
            summary, histories = run_full_pipeline(config, args.out, device, info,
                                                   args.resume, args.force)
        else:
            history = train_stage(config, args.out, device, info, args.resume,
                                  args.force).history
    finally:
        distributed.shutdown(info)
    if not info.is_main:
        return 0
    if config.pipeline == 'full':
        for stage, stage_history in histories.items():
            _summarise(stage_history, args.out / stage)
        if 'masks' in summary:
            LOG.info('SPIMO masks: %s', ', '.join(f'{k} {v:.4g}' for k, v in
                                                  summary['masks'].items()))
        LOG.info('final model: %s', args.out / run_dir.MODEL_FILE)
    else:
        _summarise(history, args.out)
    return 0


def _summarise(history: list[dict], out: Path) -> None:
    first, last = history[0], history[-1]
    trained = [r for r in history if 'loss' in r]
    lines = [f'run folder: {out}', f'epochs: {last["epoch"]}, steps: {last["step"]}']
    if trained:
        lines.append(f'loss: {trained[0]["loss"]:.4f} (epoch 1) -> {trained[-1]["loss"]:.4f} '
                     f'(epoch {trained[-1]["epoch"]})')
    for prefix, lead in (('eval', ''), ('unseen', 'unseen_')):
        key = f'{prefix}_abs_rel'
        if key in first and key in last:
            lines.append(f'{prefix} AbsRel (median-scaled): {first[key]:.4f} untrained -> '
                         f'{last[key]:.4f} trained (constant depth '
                         f'{first[f"{lead}const_abs_rel"]:.4f}, depth by row '
                         f'{first.get(f"{lead}prior_abs_rel", float("nan")):.4f}); '
                         f'row-flattened '
                         f'{last.get(f"{prefix}_row_flat_abs_rel", float("nan")):.4f}, '
                         f'within-row corr {last.get(f"{prefix}_row_corr", float("nan")):.3f}')
    lines.append(f'checkpoint: {out / run_dir.LAST_CHECKPOINT}')
    LOG.info('summary:\n  %s', '\n  '.join(lines))


def _pick_device(requested: str) -> Any:
    """--device auto | cpu | cuda as a torch device (single process)."""
    return distributed.pick_device(distributed.DistInfo(), requested)


def _spimo_settings(args: argparse.Namespace, own: Any) -> Any:
    """SPIMO settings `own` with the --spimo-delta/-scale/-threshold given on the command line."""
    from dataclasses import replace

    given = {'delta': args.spimo_delta, 'scale': args.spimo_scale,
             'threshold': args.spimo_threshold}
    return replace(own, **{k: v for k, v in given.items() if v is not None})


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Eigen metrics (and mask scores) of a checkpoint on its config's eval data.

    Frames are fed at the model's own input size; a model with a metric scale also gets the
    unscaled (metric) errors. With --out: metrics.json, metrics.md and grid.png there.
    """
    from svde_training.evaluate import evaluate_checkpoint, report_markdown, write_report

    if args.out and not args.force:
        existing = [str(args.out / n) for n in ('metrics.json', 'metrics.md', 'grid.png')
                    if (args.out / n).exists()]
        if existing:
            raise run_dir.RunDirError(f'{", ".join(existing)} exist; pass --force to replace '
                                      'them or choose another --out')
    config = load_config(args.config) if args.config else stored_config(
        read_checkpoint(args.checkpoint)['config'], str(args.checkpoint))
    if args.split or args.kitti_root:
        if not (args.split and args.kitti_root):
            raise ConfigError('--split and --kitti-root go together: the split file names '
                              'frames under the KITTI raw root')
        # The KITTI protocol: every listed frame, Garg crop, depth capped to 1e-3..80 m.
        source = KittiSplitSource(str(args.kitti_root), str(args.split), args.depth)
        config = replace(config, data=replace(config.data, eval_sources=(source,)),
                         eval=replace(config.eval, max_frames=0, garg_crop=True,
                                      min_depth=1e-3, max_depth=80.0))
    report = evaluate_checkpoint(args.checkpoint, config, args.max_frames,
                                 _pick_device(args.device))
    print(report_markdown(report), end='')
    if args.out:
        write_report(report, args.out)
        LOG.info('wrote %s', ', '.join(str(args.out / n) for n in
                                       ('metrics.json', 'metrics.md', 'grid.png')))
    return 0


def cmd_masks(args: argparse.Namespace) -> int:
    """Moving-object masks of every frame of the training data, from a trained checkpoint."""
    from svde_training.masks import summary_line, write_masks

    config = load_config(args.config) if args.config else stored_config(
        read_checkpoint(args.checkpoint)['config'], str(args.checkpoint))
    spimo = _spimo_settings(args, config.spimo)
    clips = [c for s in config.data.sources for c in build_clips(s)]
    motion = None
    if args.gap < 1:
        raise ConfigError(f'--gap: must be at least 1, got {args.gap}')
    if args.method == 'motion':
        from svde_ros.motion.mask import MotionMaskConfig

        settings = MotionMaskConfig() if args.motion_threshold is None else \
            MotionMaskConfig(threshold=args.motion_threshold)
        motion = (settings, args.gap)
    summary = write_masks(args.checkpoint, clips, args.out, spimo, args.force,
                          device=_pick_device(args.device), motion=motion)
    LOG.info('masks in %s: %s', args.out, summary_line(summary))
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    """Train variants x seeds at one budget (resuming), print and write the table."""
    from svde_training.ablate import ablation_markdown, run_ablation

    variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    try:
        seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
    except ValueError:
        raise ConfigError(f'--seeds: expected comma-separated integers, got '
                          f'{args.seeds!r}') from None
    if not variants or not seeds:
        raise ConfigError('--variants and --seeds need at least one entry each')
    table = run_ablation(args.config, args.out, variants, seeds, args.jobs, args.report_only,
                         args.device)
    print(ablation_markdown(table), end='')
    LOG.info('wrote %s', ', '.join(str(args.out / f'ablation.{e}') for e in ('md', 'json', 'png')))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """ONNX export with a JSON sidecar."""
    from svde_ros.inference.export import export_onnx
    from svde_ros.spimo import SpimoConfig

    spimo: bool | SpimoConfig = args.spimo
    own_spimo_changed = args.spimo and any(
        v is not None for v in (args.spimo_delta, args.spimo_scale, args.spimo_threshold))
    height, width = args.height, args.width
    if not (height and width) or own_spimo_changed:
        spec = read_inference_spec(args.checkpoint)      # read once for both
        height, width = height or spec.input_height, width or spec.input_width
        if own_spimo_changed:
            spimo = _spimo_settings(args, spec.spimo_config)
    export_onnx(args.checkpoint, args.out, height, width, spimo, args.force)
    return 0


def cmd_build_engine(args: argparse.Namespace) -> int:
    """Build (or find in the cache) a TensorRT engine for an exported model."""
    from svde_ros.inference.export import default_cache_dir, writable_cache
    from svde_ros.inference.tensorrt_backend import cached_engine

    cache = writable_cache(args.cache_dir or default_cache_dir() / 'engines')
    _, key = cached_engine(args.onnx, args.precision, cache, args.workspace_mb)
    LOG.info('engine ready in %s (key %s)', cache, key.digest())
    return 0


def cmd_make_bag(args: argparse.Namespace) -> int:
    """Write a rosbag2 of Image/CompressedImage + CameraInfo (+ Odometry from poses)."""
    from svde_training.data.folder import FolderClip
    from svde_training.data.rosbag import BagTopics, camera_offset, write_bag

    clip = FolderClip(args.images, args.intrinsics, args.poses)
    topics = BagTopics(image=args.image_topic, camera_info=args.camera_info_topic,
                       odometry=args.odom_topic, frame_id=args.frame_id)
    write_bag(clip, args.out, args.storage, args.rate, args.compressed, topics,
              args.max_frames, camera_in_base=camera_offset(tuple(args.camera_in_base))
              if args.camera_in_base else None)
    return 0


def cmd_slim(args: argparse.Namespace) -> int:
    """Deployable model file (weights + inference spec) from a training checkpoint."""
    from svde_ros.model.checkpoint import slim_checkpoint

    if args.out.exists() and not args.force:
        raise run_dir.RunDirError(f'{args.out} exists; pass --force to replace it')
    state = read_checkpoint(args.checkpoint)
    slim = slim_checkpoint(state, fp16=not args.fp32)
    if args.metric_scale == 'odometry':
        from svde_training.scale import odometry_scale

        if 'pose_net' not in state:
            raise CheckpointError(f'{args.checkpoint} has no PoseNet: use a training checkpoint '
                                  '(checkpoints/last.pt), not a slim model')
        scale, pairs = odometry_scale(state)
        slim['inference'] = {**slim['inference'], 'depth_scale': scale,
                             'scale_source': 'odometry'}
        LOG.info('depth is metric: x%.3f from %d odometry pairs', scale, pairs)
    if args.spimo_threshold is not None:
        # The threshold validated for this model (benchmarks/real_masks.py); the
        # node and export take it from the model file.
        spec = InferenceSpec.from_dict(slim['inference'])
        spimo = replace(spec.spimo_config, threshold=args.spimo_threshold)
        slim['inference'] = replace(spec, spimo=spimo).to_dict()
        LOG.info('SPIMO threshold in the model file: %g', args.spimo_threshold)
    run_dir.save_checkpoint(args.out, slim)
    load_depth_net(args.out)    # proves the file loads
    LOG.info('wrote %s (%.1f MB)', args.out, args.out.stat().st_size / 2 ** 20)
    return 0


def cmd_bag_info(args: argparse.Namespace) -> int:
    """Topics, types, counts, rates and image sizes of a bag; suggests the camera topics."""
    from svde_training.data.rosbag import bag_info

    print(bag_info(args.bag))
    return 0


def _device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'],
                        help='auto: CUDA when torch sees a GPU, else the CPU')


def _spimo(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument('--spimo-delta', type=float, help=f'positional shift (default: {what})')
    parser.add_argument('--spimo-scale', type=float, help='pass resolution factor')
    parser.add_argument('--spimo-threshold', type=float, help='dispersion threshold')


def _fit_parser(sub: Any) -> None:
    fit = sub.add_parser('fit', help='train from a YAML config')
    fit.add_argument('--config', type=Path, help='training YAML (defaults if omitted)')
    fit.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                     help='override one config key, e.g. --set optim.lr=1e-4 (repeatable)')
    fit.add_argument('--bag', type=Path, help='train on this rosbag2 (replaces data.sources)')
    fit.add_argument('--image-topic', default='', help='with --bag')
    fit.add_argument('--camera-info-topic', default='', help='with --bag (auto when unique)')
    fit.add_argument('--intrinsics', type=Path, help='with --bag: camera YAML instead')
    fit.add_argument('--odom-topic', default='', help='with --bag: odometry for poses')
    fit.add_argument('--camera-in-base', type=float, nargs=6,
                     metavar=('X', 'Y', 'Z', 'ROLL', 'PITCH', 'YAW'),
                     help="with --odom-topic: the camera's optical frame in the odometry's "
                          'child frame (default: from the bag\'s /tf_static)')
    fit.add_argument('--camera-height', type=float,
                     help='camera height above the ground in metres: the metric scale when '
                     'there is no odometry')
    fit.add_argument('--out', type=Path, required=True, help='run folder')
    fit.add_argument('--resume', action='store_true', help='continue the run in --out')
    fit.add_argument('--force', action='store_true', help='replace the run in --out')
    _device(fit)
    fit.set_defaults(func=cmd_fit)


def _masks_parser(sub: Any) -> None:
    ma = sub.add_parser('masks', help='moving-object masks of the training frames (SPIMO or '
                        'the motion mask), for stage 2')
    ma.add_argument('--checkpoint', type=Path, required=True, help='a stage-1 checkpoint')
    ma.add_argument('--config', type=Path, help='data (data.sources) and spimo settings; '
                    'default: the checkpoint\'s own training config')
    ma.add_argument('--out', type=Path, required=True, help='masks folder (resumable)')
    ma.add_argument('--method', choices=['spimo', 'motion'], default='spimo',
                    help='spimo: dispersion under shifted positions; motion: the node\'s '
                         'motion mask, each frame against the one --gap frames before it')
    ma.add_argument('--gap', type=int, default=1, help='motion: frames between the two views')
    ma.add_argument('--motion-threshold', type=float, help='motion: the mask\'s threshold '
                    '(default: the node\'s)')
    _spimo(ma, 'the config\'s spimo section')
    _device(ma)
    ma.add_argument('--force', action='store_true', help='replace masks made differently')
    ma.set_defaults(func=cmd_masks)


def _evaluate_parser(sub: Any) -> None:
    ev = sub.add_parser('evaluate', help='depth metrics of a checkpoint')
    ev.add_argument('--checkpoint', type=Path, required=True)
    ev.add_argument('--config', type=Path, help='take the data from this config instead')
    ev.add_argument('--max-frames', type=int, default=0)
    ev.add_argument('--out', type=Path, help='write metrics.json, metrics.md and grid.png here')
    _device(ev)
    ev.add_argument('--force', action='store_true', help='replace a report already in --out')
    ev.add_argument('--split', type=Path, help='KITTI split file (<date>/<drive> <frame> l|r '
                    'lines, e.g. the Eigen test split), with --kitti-root')
    ev.add_argument('--kitti-root', type=Path, help='folder holding the KITTI raw date folders')
    ev.add_argument('--depth', default='velodyne', choices=['velodyne', 'groundtruth', 'auto'],
                    help='with --split: raw scans (Eigen) or the annotated depth maps')
    ev.set_defaults(func=cmd_evaluate)


def _ablate_parser(sub: Any) -> None:
    ab = sub.add_parser('ablate', help='variants x seeds at one budget, one table')
    ab.add_argument('--config', type=Path, required=True, help='base training YAML')
    ab.add_argument('--out', type=Path, required=True, help='folder of the runs (resumed)')
    ab.add_argument('--variants', default='base',
                    help='comma-separated variants, + combines (svde_training/ablate.py)')
    ab.add_argument('--seeds', default='0,1', help='comma-separated seeds')
    ab.add_argument('--jobs', type=int, default=1,
                    help='runs at once, each with cores/jobs threads')
    ab.add_argument('--report-only', action='store_true',
                    help='train nothing: tabulate the runs under --out')
    _device(ab)
    ab.set_defaults(func=cmd_ablate)


def _export_parser(sub: Any) -> None:
    ex = sub.add_parser('export', help='ONNX model (+ JSON sidecar) from a checkpoint')
    ex.add_argument('--checkpoint', type=Path, required=True)
    ex.add_argument('--out', type=Path, required=True)
    ex.add_argument('--height', type=int, default=0,
                    help='multiple of 32 (default: the size the model was trained at)')
    ex.add_argument('--width', type=int, default=0,
                    help='multiple of 32 (default: the size the model was trained at)')
    ex.add_argument('--spimo', action='store_true', help='add the SPIMO dispersion output')
    _spimo(ex, 'the checkpoint\'s own')
    ex.add_argument('--force', action='store_true', help='replace an existing model')
    ex.set_defaults(func=cmd_export)


def _build_engine_parser(sub: Any) -> None:
    be = sub.add_parser('build-engine', help='TensorRT engine for an exported model')
    be.add_argument('--onnx', type=Path, required=True)
    be.add_argument('--precision', default='fp16', choices=['fp16', 'fp32'])
    be.add_argument('--workspace-mb', type=int, default=1024)
    be.add_argument('--cache-dir', type=Path,
                    help='default: ~/.cache/svde_ros/engines, where the node looks')
    be.set_defaults(func=cmd_build_engine)


def _make_bag_parser(sub: Any) -> None:
    mb = sub.add_parser('make-bag', help='rosbag2 from an image folder (+ poses)')
    mb.add_argument('--images', type=Path, required=True, help='folder of frames, name order')
    mb.add_argument('--intrinsics', type=Path, required=True,
                    help='camera YAML (ROS camera_info form or fx/fy/cx/cy/width/height)')
    mb.add_argument('--poses', type=Path, help='KITTI-style poses (12 values a line)')
    mb.add_argument('--out', type=Path, required=True, help='new bag folder')
    mb.add_argument('--storage', default='mcap', choices=['mcap', 'sqlite3'])
    mb.add_argument('--rate', type=float, default=10.0, help='frames per second')
    mb.add_argument('--compressed', action='store_true', help='JPEG CompressedImage')
    mb.add_argument('--max-frames', type=int, default=0)
    mb.add_argument('--image-topic', default='/camera/image_raw')
    mb.add_argument('--camera-info-topic', default='/camera/camera_info')
    mb.add_argument('--odom-topic', default='/odom')
    mb.add_argument('--camera-in-base', type=float, nargs=6,
                    metavar=('X', 'Y', 'Z', 'ROLL', 'PITCH', 'YAW'),
                    help="record as a robot: the camera's optical frame in base_link; the "
                         "odometry is then the base's pose and /tf_static holds this offset")
    mb.add_argument('--frame-id', default='camera_optical')
    mb.set_defaults(func=cmd_make_bag)


def _slim_parser(sub: Any) -> None:
    sl = sub.add_parser('slim', help='deployable model file from a training checkpoint')
    sl.add_argument('--checkpoint', type=Path, required=True)
    sl.add_argument('--out', type=Path, required=True)
    sl.add_argument('--fp32', action='store_true', help='keep float32 weights')
    sl.add_argument('--metric-scale', choices=['none', 'odometry'], default='none',
                    help='odometry: metres per unit from the training clips\' poses')
    sl.add_argument('--spimo-threshold', type=float,
                    help='record this validated SPIMO threshold in the model file')
    sl.add_argument('--force', action='store_true')
    sl.set_defaults(func=cmd_slim)


def _bag_info_parser(sub: Any) -> None:
    bi = sub.add_parser('bag-info', help='what a rosbag2 holds (read-only)')
    bi.add_argument('bag', type=Path)
    bi.set_defaults(func=cmd_bag_info)


SUBCOMMANDS = (_fit_parser, _masks_parser, _evaluate_parser, _ablate_parser, _export_parser,
               _build_engine_parser, _make_bag_parser, _slim_parser, _bag_info_parser)


def build_parser() -> argparse.ArgumentParser:
    """The `svde-train` parser: one function per subcommand adds its own."""
    parser = argparse.ArgumentParser(prog='svde-train', description=__doc__)
    parser.add_argument('--log-level', default='INFO', choices=['DEBUG', 'INFO', 'WARNING'])
    sub = parser.add_subparsers(dest='command', required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `svde-train` console script."""
    args = build_parser().parse_args(argv)
    # Schedulers and `timeout` stop jobs with SIGTERM: end like Ctrl-C (checkpoint kept, one
    # line, exit 130) instead of dying silently.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=args.log_level, format='%(asctime)s %(levelname)s %(message)s',
                        datefmt='%H:%M:%S')
    try:
        return args.func(args)
    except USER_ERRORS as err:
        LOG.error('%s', err)
        return 2
    except KeyboardInterrupt:
        LOG.warning('interrupted; the last checkpoint is kept, continue with --resume')
        return 130


if __name__ == '__main__':
    sys.exit(main())
