"""`svde-train`: the command line of the offline pipeline (thin; the work is in the library)."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

import torch

from svde_ros.inference.backend import BackendError
from svde_ros.model.checkpoint import CheckpointError, load_depth_net, read_checkpoint
from svde_training import distributed, run_dir
from svde_training.config import ConfigError, RosbagSource, config_from_dict, load_config
from svde_training.data import DataError, build_clips
from svde_training.data.dataset import eval_frames
from svde_training.evaluate import constant_depth_baseline, evaluate_frames
from svde_training.export import ExportError
from svde_training.metrics import METRIC_NAMES

LOG = logging.getLogger('svde_train')
USER_ERRORS = (ConfigError, DataError, CheckpointError, run_dir.RunDirError, BackendError,
               ExportError)


def cmd_fit(args: argparse.Namespace) -> int:
    """Train stage 1 from a YAML config into a run folder."""
    from svde_training.trainer import Trainer

    config = load_config(args.config) if args.config else config_from_dict({}, 'defaults')
    if args.bag:
        source = RosbagSource(str(args.bag), args.image_topic, args.camera_info_topic,
                              str(args.intrinsics or ''), args.odom_topic)
        config = replace(config, data=replace(config.data, sources=(source,)))
    elif not args.config:
        raise ConfigError('give --config FILE, or --bag BAG --image-topic T')
    info = distributed.init_distributed()
    try:
        device = distributed.pick_device(info, args.device)
        resume_from = None
        if info.is_main:
            resume_from = run_dir.prepare(args.out, config.to_dict(), args.resume, args.force)
        distributed.barrier(info)
        if info.enabled and args.resume:
            checkpoint = args.out / run_dir.LAST_CHECKPOINT
            resume_from = checkpoint if checkpoint.is_file() else None
        trainer = Trainer(config, args.out, device, info)
        if resume_from is not None:
            trainer.load(resume_from)
        LOG.info('training on %s (%d process(es)); %d samples, %d steps/epoch, %d epochs, '
                 '%s warping, %s quantization', device, info.world_size, len(trainer.dataset),
                 trainer.steps_per_epoch, config.optim.epochs, config.loss.warping,
                 config.model.quantization)
        history = trainer.fit()
        # Equal checksums across ranks show that DDP kept the replicas in sync.
        LOG.info('rank %d: %d steps, parameter checksum %.8e', info.rank, trainer.global_step,
                 float(sum(p.detach().double().sum() for p in trainer.depth_net.parameters())))
        distributed.barrier(info)
    finally:
        distributed.shutdown(info)
    if info.is_main:
        _summarise(history, args.out)
    return 0


def _summarise(history: list[dict], out: Path) -> None:
    first, last = history[0], history[-1]
    trained = [r for r in history if 'loss' in r]
    lines = [f'run folder: {out}', f'epochs: {last["epoch"]}, steps: {last["step"]}']
    if trained:
        lines.append(f'loss: {trained[0]["loss"]:.4f} (epoch 1) -> {trained[-1]["loss"]:.4f} '
                     f'(epoch {trained[-1]["epoch"]})')
    if 'eval_abs_rel' in first and 'eval_abs_rel' in last:
        lines.append(f'eval AbsRel (median-scaled): {first["eval_abs_rel"]:.4f} untrained -> '
                     f'{last["eval_abs_rel"]:.4f} trained (constant depth: '
                     f'{first["const_abs_rel"]:.4f})')
    lines.append(f'checkpoint: {out / run_dir.LAST_CHECKPOINT}')
    LOG.info('summary:\n  %s', '\n  '.join(lines))


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Eigen metrics of a checkpoint on the eval sources of its config (or of --config).

    Frames are fed at the model's own input size; a model with a metric scale also gets the
    unscaled (metric) errors.
    """
    net, spec = load_depth_net(args.checkpoint)
    config = load_config(args.config) if args.config else config_from_dict(
        read_checkpoint(args.checkpoint)['config'], str(args.checkpoint))
    clips = [c for s in (config.data.eval_sources or config.data.sources)
             for c in build_clips(s)]
    data = replace(config.data, base_height=spec.input_height, base_width=spec.input_width)
    frames = eval_frames(clips, data, args.max_frames or config.eval.max_frames)
    if not frames:
        raise DataError('none of the evaluation frames has ground-truth depth')
    metric = spec.depth_scale if spec.scale_source != 'none' else None
    metrics = evaluate_frames(net, frames, config.eval, torch.device('cpu'), metric)
    rows = [(f'{args.checkpoint.name} (median-scaled)', metrics)]
    if metric is not None:
        rows.append((f'{args.checkpoint.name} (metric, {spec.scale_source} scale)',
                     {k: metrics[f'metric_{k}'] for k in METRIC_NAMES}))
    rows.append(('constant depth (median-scaled)', constant_depth_baseline(frames, config.eval)))
    print('| model | ' + ' | '.join(METRIC_NAMES) + ' |')
    print('|---' * (len(METRIC_NAMES) + 1) + '|')
    for name, row in rows:
        print(f'| {name} | ' + ' | '.join(f'{row[k]:.4f}' for k in METRIC_NAMES) + ' |')
    if metric is not None:
        print(f'median scale / metric scale: {metrics["median_scale_ratio"]:.3f} (1 = exact)')
    LOG.info('%d frames at %dx%d, depth capped to [%g, %g] m', len(frames), spec.input_width,
             spec.input_height, config.eval.min_depth, config.eval.max_depth)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """ONNX export with a JSON sidecar."""
    from svde_ros.spimo import SpimoConfig
    from svde_training.export import export_onnx

    spimo = SpimoConfig(args.spimo_delta, args.spimo_scale, args.spimo_threshold) \
        if args.spimo else None
    export_onnx(args.checkpoint, args.out, args.height, args.width, spimo, args.force)
    return 0


def cmd_build_engine(args: argparse.Namespace) -> int:
    """Build (or find in the cache) a TensorRT engine for an exported model."""
    from svde_ros.inference.tensorrt_backend import cached_engine

    cache = args.cache_dir or args.onnx.parent / 'engines'
    _, key = cached_engine(args.onnx, args.precision, cache, args.workspace_mb)
    LOG.info('engine ready in %s (key %s)', cache, key.digest())
    return 0


def cmd_make_bag(args: argparse.Namespace) -> int:
    """Write a rosbag2 of Image/CompressedImage + CameraInfo (+ Odometry from poses)."""
    from svde_training.data.folder import FolderClip
    from svde_training.data.rosbag import BagTopics, write_bag

    clip = FolderClip(args.images, args.intrinsics, args.poses)
    topics = BagTopics(image=args.image_topic, camera_info=args.camera_info_topic,
                       odometry=args.odom_topic, frame_id=args.frame_id)
    write_bag(clip, args.out, args.storage, args.rate, args.compressed, topics,
              args.max_frames)
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
    run_dir.save_checkpoint(args.out, slim)
    load_depth_net(args.out)    # proves the file loads
    LOG.info('wrote %s (%.1f MB)', args.out, args.out.stat().st_size / 2 ** 20)
    return 0


def cmd_bag_info(args: argparse.Namespace) -> int:
    """Topics, types, counts, rates and image sizes of a bag; suggests the camera topics."""
    from svde_training.data.rosbag import bag_info

    print(bag_info(args.bag))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Sub-commands and their arguments."""
    parser = argparse.ArgumentParser(prog='svde-train', description=__doc__)
    parser.add_argument('--log-level', default='INFO', choices=['DEBUG', 'INFO', 'WARNING'])
    sub = parser.add_subparsers(dest='command', required=True)
    fit = sub.add_parser('fit', help='train from a YAML config')
    fit.add_argument('--config', type=Path, help='training YAML (defaults if omitted)')
    fit.add_argument('--bag', type=Path, help='train on this rosbag2 (replaces data.sources)')
    fit.add_argument('--image-topic', default='', help='with --bag')
    fit.add_argument('--camera-info-topic', default='', help='with --bag (auto when unique)')
    fit.add_argument('--intrinsics', type=Path, help='with --bag: camera YAML instead')
    fit.add_argument('--odom-topic', default='', help='with --bag: odometry for poses')
    fit.add_argument('--out', type=Path, required=True, help='run folder')
    fit.add_argument('--resume', action='store_true', help='continue the run in --out')
    fit.add_argument('--force', action='store_true', help='replace the run in --out')
    fit.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    fit.set_defaults(func=cmd_fit)
    ev = sub.add_parser('evaluate', help='depth metrics of a checkpoint')
    ev.add_argument('--checkpoint', type=Path, required=True)
    ev.add_argument('--config', type=Path, help='take the data from this config instead')
    ev.add_argument('--max-frames', type=int, default=0)
    ev.set_defaults(func=cmd_evaluate)
    ex = sub.add_parser('export', help='ONNX model (+ JSON sidecar) from a checkpoint')
    ex.add_argument('--checkpoint', type=Path, required=True)
    ex.add_argument('--out', type=Path, required=True)
    ex.add_argument('--height', type=int, required=True, help='multiple of 32')
    ex.add_argument('--width', type=int, required=True, help='multiple of 32')
    ex.add_argument('--spimo', action='store_true', help='add the SPIMO dispersion output')
    ex.add_argument('--spimo-delta', type=float, default=0.1)
    ex.add_argument('--spimo-scale', type=float, default=0.5)
    ex.add_argument('--spimo-threshold', type=float, default=0.02)
    ex.add_argument('--force', action='store_true', help='replace an existing model')
    ex.set_defaults(func=cmd_export)
    be = sub.add_parser('build-engine', help='TensorRT engine for an exported model')
    be.add_argument('--onnx', type=Path, required=True)
    be.add_argument('--precision', default='fp16', choices=['fp16', 'fp32'])
    be.add_argument('--workspace-mb', type=int, default=1024)
    be.add_argument('--cache-dir', type=Path, help='default: <onnx folder>/engines')
    be.set_defaults(func=cmd_build_engine)
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
    mb.add_argument('--frame-id', default='camera_optical')
    mb.set_defaults(func=cmd_make_bag)
    sl = sub.add_parser('slim', help='deployable model file from a training checkpoint')
    sl.add_argument('--checkpoint', type=Path, required=True)
    sl.add_argument('--out', type=Path, required=True)
    sl.add_argument('--fp32', action='store_true', help='keep float32 weights')
    sl.add_argument('--metric-scale', choices=['none', 'odometry'], default='none',
                    help='odometry: metres per unit from the training clips\' poses')
    sl.add_argument('--force', action='store_true')
    sl.set_defaults(func=cmd_slim)
    bi = sub.add_parser('bag-info', help='what a rosbag2 holds (read-only)')
    bi.add_argument('bag', type=Path)
    bi.set_defaults(func=cmd_bag_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `svde-train` console script."""
    args = build_parser().parse_args(argv)
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
