"""What each training source asks of the depth network, and in which gauge it sits.

When a second source makes the depth worse, either it pulls harder than the clip (a bigger
gradient takes over the shared steps: the loss scale per source) or it pulls the other way
(the same weights are asked for different depth maps: a conflict). For each source of a config
this draws the same batches (seed 0), computes the training loss with the networks of a
checkpoint (or freshly initialised), and prints per source: the photometric loss, the depth
network's gradient norm per batch, the norm of its mean gradient (what survives averaging over
batches), the cosine between its mean gradient and the first source's, PoseNet's mean
translation |t| and the median depth, both in the network's gauge (set beside the cameras' true
motion between neighbours, they show whether every source sits at one gauge). Sources that
agree give cosines near the first source's own split-half cosine (printed as the noise floor).

    OMP_NUM_THREADS=1 python experiments/source_gradients.py --config config/all_video.yaml \
        --checkpoint runs/recipe_s0/checkpoints/last.pt --batches 8
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from svde_ros.model.checkpoint import CheckpointError, read_checkpoint
from svde_training.config import ConfigError, load_config
from svde_training.data import DataError, resolve_input_size
from svde_training.data.dataset import collate
from svde_training.distributed import DistInfo
from svde_training.trainer import Trainer


def source_gradients(trainer: Trainer, group: int, batches: int, batch_size: int,
                     seed: int = 0) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Per batch of `group`'s items: the depth network's flattened gradient, and statistics.

    The statistics are its photo loss, PoseNet's mean translation and the median depth (both
    in the network's gauge).
    """
    dataset = trainer.dataset
    items = [i for i, (c, _, _) in enumerate(dataset.items) if dataset.groups[c] == group]
    rng = np.random.default_rng(seed)
    params = [p for p in trainer.depth_net.parameters() if p.requires_grad]
    grads: list[np.ndarray] = []
    stats: dict[str, list[float]] = {'photo': [], 'trans': [], 'depth': []}
    for _ in range(batches):
        chosen = rng.choice(items, size=batch_size, replace=len(items) < batch_size)
        batch = collate([dataset[int(i)] for i in chosen]).to(trainer.device)
        trainer.depth_net.zero_grad(set_to_none=True)
        terms, pred, poses, _ = trainer.losses(batch)
        torch.stack(list(terms.values())).sum().backward()
        stats['photo'].append(float(terms['photo'].detach()))
        translation = torch.stack(poses).detach()[..., :3, 3]
        stats['trans'].append(float(translation.norm(dim=-1).mean()))
        stats['depth'].append(float(torch.median(1.0 / pred.disp(0).detach().float())))
        grads.append(torch.cat([p.grad.flatten() if p.grad is not None else
                                torch.zeros(p.numel()) for p in params]).double().numpy())
    return np.stack(grads), stats


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', type=Path, default=Path('config/all_video.yaml'))
    parser.add_argument('--checkpoint', type=Path, default=None,
                        help='a training checkpoint (last.pt) of the same model; default: '
                             'freshly initialised networks (seed 0)')
    parser.add_argument('--batches', type=int, default=8)
    parser.add_argument('--set', dest='overrides', action='append', default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    try:
        state = read_checkpoint(args.checkpoint) if args.checkpoint is not None else None
        config = resolve_input_size(load_config(args.config, args.overrides))
    except (CheckpointError, ConfigError, DataError) as err:
        print(f'source_gradients: {err}', file=sys.stderr)
        return 2
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, eval_sources=(), unseen_sources=()))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp), torch.device('cpu'), DistInfo())
        if state is not None:
            trainer.depth_net.load_state_dict(state['depth_net'])
            trainer.pose_net.load_state_dict(state['pose_net'])
            if trainer.source_gauge is not None:     # pose_gauge per_source: the learnt factors
                with torch.no_grad():
                    trainer.source_gauge.copy_(state['source_gauge'])
        names = [getattr(s, 'path', s.type) for s in config.data.sources]
        results = []
        for group, name in enumerate(names):
            grads, stats = source_gradients(trainer, group, args.batches,
                                            config.optim.batch_size)
            results.append((name, grads, stats))
            print(f'{Path(name).name}: done', file=sys.stderr)
    first = results[0][1]
    half = len(first) // 2
    floor = cosine(first[:half].mean(0), first[half:].mean(0))
    print(f'checkpoint: {args.checkpoint or "fresh (seed 0)"}; {args.batches} batches of '
          f'{config.optim.batch_size} per source')
    print(f'{"source":28s} {"photo":>7s} {"|g| per batch":>14s} {"|mean g|":>9s} '
          f'{"cos to first":>13s} {"|t|":>8s} {"depth":>8s}')
    for name, grads, stats in results:
        mean = grads.mean(0)
        print(f'{Path(name).name[:28]:28s} {np.mean(stats["photo"]):7.4f} '
              f'{np.mean(np.linalg.norm(grads, axis=1)):14.4g} {np.linalg.norm(mean):9.4g} '
              f'{cosine(mean, first.mean(0)):13.3f} {np.mean(stats["trans"]):8.4f} '
              f'{np.median(stats["depth"]):8.3f}')
    print(f'noise floor: cosine between two halves of the first source\'s batches {floor:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
