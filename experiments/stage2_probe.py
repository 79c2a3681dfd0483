"""Why stage 2 fails or trains: per-step traces and the boosting label's bias.

`trace` trains a fresh network for a few steps and prints, every 4 steps, the photometric loss,
the masked share, disparity quantiles, the mean entropy of the level softmax (0 = saturated on
one level, where gradients vanish) and PoseNet's translation. Run it with and without warm-up
to see a saturating start:

    python experiments/stage2_probe.py trace --config config/pipeline_synthetic.yaml \
        --masks runs/ablation/masks --steps 40 --warmup 0      # and --warmup 50

`label` loads a trained checkpoint and prints its disparity spread and level entropy, and the
boosting label's log ratio to the prediction on moving and static training pixels, with the
teacher in train mode (BatchNorm on batch statistics) and in eval mode:

    python experiments/stage2_probe.py label --checkpoint runs/ablation/oracle/checkpoints/last.pt
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from svde_ros.geometry import positional_grid_torch
from svde_ros.model.checkpoint import CheckpointError, depth_net_from_state, read_checkpoint
from svde_training.boosting import align_to_static, pseudo_disparity
from svde_training.config import ConfigError, MaskingConfig, config_from_dict, load_config
from svde_training.data import DataError, build_clips
from svde_training.data.dataset import TupleDataset, collate, eval_frames
from svde_training.distributed import DistInfo
from svde_training.masks import MaskStore
from svde_training.pipeline import stage_configs
from svde_training.trainer import EpochSampler, Trainer


def entropy(probs: torch.Tensor) -> float:
    """Mean entropy (nats) of the level softmax [B,N,H,W]."""
    probs = probs.detach()
    return float(-(probs * probs.clamp(min=1e-12).log()).sum(1).mean())


def trace(args: argparse.Namespace) -> None:
    config = stage_configs(load_config(args.config), args.masks or Path('unused'))[0]
    if args.masks:
        config = replace(config, masking=MaskingConfig('spimo', str(args.masks)))
    config = replace(config, optim=replace(config.optim, warmup_steps=args.warmup))
    info = DistInfo()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp), torch.device('cpu'), info)
        trainer.dataset.set_epoch(0)
        batch_size = config.optim.batch_size
        loader = DataLoader(trainer.dataset, batch_size=batch_size, collate_fn=collate,
                            sampler=EpochSampler(len(trainer.dataset), args.steps * batch_size,
                                                 config.optim.seed, 0, info))
        print(f'warm-up {args.warmup} steps, masks {args.masks or "none"}')
        for step, batch in enumerate(loader):
            logged, (batch, pred, _) = trainer.train_step(batch)
            trainer.global_step += 1
            if step % 4 and step != args.steps - 1:
                continue
            with torch.no_grad():
                disp = pred.disp(0)
                t = trainer.pose(batch, 1, config.data.frame_offsets[1])[:, :3, 3]
            q10, q50, q90 = torch.quantile(disp.flatten(), torch.tensor([0.1, 0.5, 0.9]))
            print(f'step {step:3d}  photo {logged["photo"]:.4f}  masked '
                  f'{logged.get("masked_share", 0.0):.3f}  disparity p10/p50/p90 '
                  f'{q10:.3f}/{q50:.3f}/{q90:.3f}  entropy {entropy(pred.probs(0)):.2f}  '
                  f'|t| {t.norm(dim=1).mean():.4f}')


def label(args: argparse.Namespace) -> None:
    state = read_checkpoint(args.checkpoint)
    net, _ = depth_net_from_state(state, args.checkpoint)
    config = config_from_dict(state['config'], str(args.checkpoint))
    frame = eval_frames([c for s in config.data.eval_sources for c in build_clips(s)],
                        config.data, 1)[0]
    h, w = frame.image.shape[1:]
    with torch.no_grad():
        pred = net(frame.image[None], positional_grid_torch(1, h, w), frame.cam[None])
    q5, q50, q95 = torch.quantile(pred.full_disp().flatten(), torch.tensor([0.05, 0.5, 0.95]))
    print(f'{args.checkpoint}: disparity p5/p50/p95 {q5:.3f}/{q50:.3f}/{q95:.3f} of '
          f'{config.model.disp_range}, level entropy {entropy(pred.probs(0)):.2f} '
          f'(uniform {torch.log(torch.tensor(float(config.model.num_levels))):.2f})')
    if config.masking.mode != 'spimo':
        return
    clips = [c for s in config.data.sources for c in build_clips(s)]
    dataset = TupleDataset(clips, config.data, config.optim.seed,
                           MaskStore(config.masking.masks_dir))
    batch = collate([dataset[i] for i in range(0, len(dataset), max(1, len(dataset) // 16))])
    moving = batch.masks[:, 0] > 0.5
    boost = config.boost
    print(f'boosting label vs prediction, log(label / prediction) on {len(batch.index)} crops, '
          f'scales {boost.scales}, flip {boost.flip} (the trainer\'s student runs in train '
          'mode):')
    for student_mode in ('train', 'eval'):
        with torch.no_grad():
            disp = copy.deepcopy(net).train(student_mode == 'train')(
                batch.images_aug[:, 0], batch.pos, batch.cam).full_disp()
        for mode in ('train', 'eval'):
            teacher = copy.deepcopy(net).train(mode == 'train')
            raw = pseudo_disparity(teacher, batch.images_aug[:, 0], batch.pos, batch.cam,
                                   boost.scales, boost.flip)
            ratio = torch.log(align_to_static(raw, disp, moving) / disp)
            print(f'  student in {student_mode} mode, teacher in {mode} mode: moving mean '
                  f'{ratio[moving].mean():+.3f} (mean |.| {ratio[moving].abs().mean():.3f}), '
                  f'static mean {ratio[~moving].mean():+.3f}; before alignment the static '
                  f'median ratio is {(raw / disp)[~moving].median():.3f}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    tr = sub.add_parser('trace')
    tr.add_argument('--config', type=Path, required=True)
    tr.add_argument('--masks', type=Path, help='SPIMO masks folder (omit: every pixel)')
    tr.add_argument('--steps', type=int, default=40)
    tr.add_argument('--warmup', type=int, default=0)
    tr.set_defaults(func=trace)
    lb = sub.add_parser('label')
    lb.add_argument('--checkpoint', type=Path, required=True)
    lb.set_defaults(func=label)
    args = parser.parse_args()
    torch.manual_seed(0)
    try:
        args.func(args)
    except (CheckpointError, ConfigError, DataError) as err:
        raise SystemExit(f'error: {err}') from None


if __name__ == '__main__':
    main()
