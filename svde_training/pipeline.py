"""Training runs: one stage, or the paper's full pipeline (stage 1 -> SPIMO masks -> stage 2).

A full run keeps every intermediate under its folder: stage1/ (a complete stage-1 run),
masks/ (SPIMO masks of the training frames from stage 1), stage2/ (a network trained from
scratch with those masks, and boosting when configured), checkpoints/model.pt (the final,
deployable stage-2 model) and summary.json. Each part resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from svde_ros.files import atomic_write_bytes
from svde_training import distributed, run_dir
from svde_training.config import MaskingConfig, TrainConfig, normalized
from svde_training.data import resolve_input_size
from svde_training.distributed import DistInfo
from svde_training.masks import summary_line, write_masks
from svde_training.trainer import Trainer

LOG = logging.getLogger(__name__)


def train_stage(config: TrainConfig, out: Path, device: torch.device, info: DistInfo,
                resume: bool, force: bool) -> Trainer:
    """Train one network as `config` says into the run folder `out` (resuming if asked)."""
    config = resolve_input_size(config)
    resume_from = None
    if info.is_main:
        resume_from = run_dir.prepare(out, config.to_dict(), resume, force, normalized)
    distributed.barrier(info)
    if info.enabled and resume:
        checkpoint = out / run_dir.LAST_CHECKPOINT
        resume_from = checkpoint if checkpoint.is_file() else None
    trainer = Trainer(config, out, device, info)
    if resume_from is not None:
        trainer.load(resume_from)
    LOG.info('training %s on %s (%d process(es)); %d samples, %d steps/epoch, %d epochs, '
             '%s warping, %s quantization, masking %s%s', out, device, info.world_size,
             len(trainer.dataset), trainer.steps_per_epoch, config.optim.epochs,
             config.loss.warping, config.model.quantization, config.masking.mode,
             f', boosting x{config.boost.weight:g}' if config.boost.weight else '')
    trainer.fit()
    # Equal checksums across ranks show that DDP kept the replicas in sync.
    LOG.info('rank %d: %d steps, parameter checksum %.8e', info.rank, trainer.global_step,
             float(sum(p.detach().double().sum() for p in trainer.depth_net.parameters())))
    distributed.barrier(info)
    return trainer


def stage_configs(config: TrainConfig, masks_dir: Path) -> tuple[TrainConfig, TrainConfig]:
    """The stage-1 and stage-2 configs of a full pipeline.

    Stage 1 sees every pixel and is not boosted; stage 2 is the configured masking (SPIMO masks
    read from `masks_dir`) and boosting.
    """
    stage1 = replace(config, pipeline='stage1', masking=MaskingConfig(mode='none'),
                     boost=replace(config.boost, weight=0.0))
    masking = config.masking
    if masking.mode == 'spimo':
        masking = replace(masking, masks_dir=str(masks_dir))
    return stage1, replace(config, pipeline='stage1', masking=masking)


def run_full_pipeline(config: TrainConfig, out: Path, device: torch.device, info: DistInfo,
                      resume: bool, force: bool,
                      ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Stage 1 -> masks -> stage 2 (+ boosting) under `out`.

    Returns:
        The summary (as written to summary.json) and each stage's metric history.
    """
    config = resolve_input_size(config)
    if info.is_main:
        run_dir.prepare(out, config.to_dict(), resume, force, normalized)
    distributed.barrier(info)
    stage1_config, stage2_config = stage_configs(config, out / 'masks')
    LOG.info('pipeline 1/3: stage 1 (all pixels)')
    stage1 = train_stage(stage1_config, out / 'stage1', device, info, True, False)
    summary: dict[str, Any] = {'stage1': stage1.history[-1]}
    if config.masking.mode == 'spimo':
        LOG.info('pipeline 2/3: SPIMO masks from stage 1')
        if info.is_main:
            summary['masks'] = write_masks(out / 'stage1' / run_dir.LAST_CHECKPOINT,
                                           stage1.dataset.clips, out / 'masks', config.spimo,
                                           device=device)
            LOG.info('masks: %s', summary_line(summary['masks']))
        distributed.barrier(info)
    LOG.info('pipeline 3/3: stage 2 from scratch (masking %s%s)', config.masking.mode,
             f', boosting x{config.boost.weight:g}' if config.boost.weight else '')
    stage2 = train_stage(stage2_config, out / 'stage2', device, info, True, False)
    summary['stage2'] = stage2.history[-1]
    if info.is_main:
        model = (out / 'stage2' / run_dir.MODEL_FILE).read_bytes()
        atomic_write_bytes(out / run_dir.MODEL_FILE, model)
        atomic_write_bytes(out / 'summary.json',
                                   json.dumps(summary, indent=2, default=float).encode())
    return summary, {'stage1': stage1.history, 'stage2': stage2.history}
