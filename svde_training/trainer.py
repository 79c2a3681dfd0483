"""Stage-1 self-supervised trainer: DepthNet + PoseNet learned from view synthesis alone.

One process per device; under torchrun the networks are wrapped in DistributedDataParallel
(gradients averaged across ranks) and only rank 0 writes the run folder.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from svde_ros.files import atomic_write_bytes
from svde_ros.geometry import scale_translation
from svde_ros.model import DepthNet
from svde_ros.model.checkpoint import (
    CHECKPOINT_FORMAT,
    InferenceSpec,
    read_checkpoint,
    slim_checkpoint,
)
from svde_ros.model.encoders import NO_WEIGHTS
from svde_ros.model.pose_net import build_pose_net, temporal_pose
from svde_training import run_dir
from svde_training.boosting import align_to_static, boost_loss, pseudo_disparity
from svde_training.config import OptimConfig, TrainConfig
from svde_training.data import build_clips
from svde_training.data.clip import DataError
from svde_training.data.dataset import TrainBatch, TupleDataset, collate, eval_frames
from svde_training.diagnostics import collapse_reason, step_stats
from svde_training.distributed import DistInfo
from svde_training.evaluate import constant_depth_baseline, evaluate_frames, row_prior_baseline
from svde_training.flow_poses import (
    FIXES_ROTATION,
    FIXES_ROTATION_AND_DIRECTION,
    FLOW_POSES_NAME,
    FlowPoses,
)
from svde_training.losses import build_view_synthesis, self_supervised_loss
from svde_training.masks import MaskStore
from svde_training.preview import preview_panel, write_png
from svde_training.scale import camera_height_scale, odometry_scale, predicted_depths

LOG = logging.getLogger(__name__)
BOARD_EVERY_STEPS = 10     # TensorBoard scalars of the training step


# Above this median turn between a target and its neighbours (degrees), PoseNet was measured
# to lose the turn to a sideways translation over a flat map (the kitchen walk: 3 deg per 5 cm;
# a car: 0.06 deg per metre). Where PoseNet was chosen over poses the clips have, fit says so.
TURN_HINT_DEG = 1.0


# pose_gauge per_source: its log-scales learn at this multiple of the learning rate.
GAUGE_LR_SCALE = 100.0


def learning_rate(optim: OptimConfig, epoch: int, step: int) -> float:
    """Learning rate of global step `step` (0-based) in epoch `epoch` (0-based).

    The linear warm-up is not a nicety here. At full rate, Adam's first steps (each parameter
    moves by about lr, whatever its gradient) can throw the level softmax of a fresh network
    onto the far end of the disparity range, where it saturates and its gradients vanish:
    measured (experiments/stage2_probe.py trace), stage 2 with SPIMO masks sat at disparity
    0.014 of [0.01, 10] from step 8 on and never learnt; warmed up over 50 steps the same run
    learns.
    """
    warm = min(1.0, (step + 1) / optim.warmup_steps) if optim.warmup_steps else 1.0
    decays = epoch // optim.lr_step_epochs if optim.lr_step_epochs else 0
    return optim.lr * optim.lr_gamma ** decays * warm


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """The autocast type of mixed-precision training on `device`, or None for fp32.

    fp16 on CUDA; bf16 on a CPU whose oneDNN has native bf16 kernels (AVX512-BF16 or AMX),
    where convolutions run about twice as fast; fp32 elsewhere, since emulated bf16 is
    slower than fp32. Warping and the photometric comparison stay fp32 (warping.py).
    """
    if not enabled:
        return None
    if device.type == 'cuda':
        return torch.float16
    if device.type == 'cpu' and torch.backends.mkldnn.is_available() and \
            torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


def prior_prefix(prefix: str) -> str:
    """The column prefix of an evaluation set's priors in metrics.csv.

    const_*, prior_* for `eval` (as before there were several sets); unseen_const_*,
    unseen_prior_* for `unseen`.
    """
    return '' if prefix == 'eval' else f'{prefix}_'


class EpochSampler(Sampler[int]):
    """This rank's indices for one epoch: `count` draws from seeded permutations, from `start`.

    With `weights` (per index, summing to 1) the draws are weighted, with replacement.
    Seeding by (seed, epoch) makes a resumed epoch replay exactly the batches it had left.
    """

    def __init__(self, size: int, count: int, seed: int, epoch: int, info: DistInfo,
                 start: int = 0, weights: np.ndarray | None = None) -> None:
        self.size, self.count, self.start = size, count, start
        self.seed, self.epoch, self.info, self.weights = seed, epoch, info, weights

    def __iter__(self) -> Iterator[int]:
        drawn: list[int] = []
        cycle = 0
        while len(drawn) < self.count:
            rng = np.random.default_rng((self.seed, self.epoch, cycle))
            order = rng.permutation(self.size) if self.weights is None else rng.choice(
                self.size, self.size, p=self.weights)
            drawn += order[self.info.rank::self.info.world_size].tolist()
            cycle += 1
        return iter(drawn[self.start:self.count])

    def __len__(self) -> int:
        return self.count - self.start


def with_fixed_geometry(T: torch.Tensor, R: torch.Tensor, direction: torch.Tensor,
                        fixes: torch.Tensor) -> torch.Tensor:
    """PoseNet's T [B,4,4] with what the images' geometry fixes put in its place.

    The rotation R [B,3,3] where fixes >= 1, and the direction of travel [B,3] at PoseNet's
    translation length where fixes == 2 (PoseNet learns only that length there).
    """
    out = T.clone()
    rotation = (fixes >= FIXES_ROTATION)[:, None, None]
    out[:, :3, :3] = torch.where(rotation, R.to(T.dtype), T[:, :3, :3])
    length = T[:, :3, 3].norm(dim=-1, keepdim=True)
    along = (fixes == FIXES_ROTATION_AND_DIRECTION)[:, None]
    out[:, :3, 3] = torch.where(along, direction.to(T.dtype) * length, T[:, :3, 3])
    return out


class Trainer:
    """Owns the networks, optimiser, data and run folder of one training run."""

    def __init__(self, config: TrainConfig, out: Path, device: torch.device,
                 info: DistInfo) -> None:
        self.config, self.out, self.device, self.info = config, out, device, info
        masks = MaskStore(config.masking.masks_dir) if config.masking.mode == 'spimo' else None
        opened = [build_clips(s, out / 'bag_index') for s in config.data.sources]
        clips = [c for shots in opened for c in shots]
        groups = [g for g, shots in enumerate(opened) for _ in shots]
        auto = config.pose_source == 'auto'
        posed = [clip.pose(0) is not None for clip in clips]
        # Known motion: every clip's (poses), or where a clip has it (mixed, auto).
        known = config.pose_source in ('poses', 'mixed') or (auto and any(posed))
        self.known_motion = known
        self.dataset = TupleDataset(clips, config.data, config.optim.seed, masks, groups,
                                    config.pose_noise if known else None,
                                    every_clip_posed=config.pose_source == 'poses')
        if config.pose_source == 'flow' or auto:
            # The images' geometry for every pair (flow), or for the clips without poses (auto).
            pairs = [p for p in self.dataset.pairs() if not (known and posed[p[0]])]
            cache = out / FLOW_POSES_NAME if out.is_dir() and info.is_main else None
            if pairs:
                self.dataset.flow_poses = FlowPoses(clips, pairs, cache)
            if auto and info.is_main:
                LOG.info('pose_source auto: known motion on %d clip(s) with poses, the images\' '
                         'geometry on %d without', sum(posed), len(posed) - sum(posed))
        if config.data.neighbours == 'motion' and info.is_main:
            spacing = self.dataset.spacing()
            for name, s in spacing.items():
                LOG.info('%s: %d targets, neighbour gaps (frames) min %s median %s max %s '
                         '(by %s)', name, s['targets'], s['gap_min'], s['gap_median'],
                         s['gap_max'], 'odometry' if s['unit'] == 'm' else 'optical flow')
            if out.is_dir():
                atomic_write_bytes(out / run_dir.NEIGHBOURS_NAME,
                                           json.dumps(spacing, indent=2).encode())
        # The poses' median step: known motion's gauge, or (every clip posed) the turn hint.
        hint = config.pose_source == 'posenet' and info.is_main and all(posed)
        motion = self.dataset.pair_motion() if known or hint else None
        if hint and motion is not None and motion[1] > TURN_HINT_DEG:
            LOG.warning('the camera turns %.1f deg between training frames (median, %.0f mm '
                        'apart): PoseNet takes such turns for sideways motion and learns a flat '
                        'map (docs/results/any_camera.md); pose_source is set to posenet, but '
                        'the clips have poses: pose_source auto (the default) or poses warps '
                        'with them', motion[1], 1000 * motion[0])
        self.eval_sets = {
            prefix: eval_frames([c for s in sources for c in build_clips(s)], config.data,
                                config.eval.max_frames)
            for prefix, sources in (('eval', config.data.eval_sources),
                                    ('unseen', config.data.unseen_sources)) if sources}
        torch.manual_seed(config.optim.seed)
        self.depth_net = DepthNet(config.model)
        if config.model.encoder != 'paper' and config.model.encoder_weights != NO_WEIGHTS:
            source = self.depth_net.encoder.load_imagenet(config.model.encoder_weights or None)
            LOG.info('encoder %s: weights from %s', config.model.encoder, source)
        self.depth_net.to(device)
        self.pose_net = build_pose_net(config.pose_encoder, config.pose_width,
                                       config.pose_translation_scale,
                                       config.pose_rotation_scale).to(device)
        if config.optim.channels_last:
            self.depth_net.to(memory_format=torch.channels_last)
            self.pose_net.to(memory_format=torch.channels_last)
        self.depth_train, self.pose_train = self.depth_net, self.pose_net
        if info.enabled:
            ids = [device.index] if device.type == 'cuda' else None
            self.depth_train = DistributedDataParallel(self.depth_net, device_ids=ids)
            self.pose_train = DistributedDataParallel(self.pose_net, device_ids=ids)
        if config.optim.compile:
            # Checkpoints keep depth_net's own state_dict keys; only the step runs compiled.
            self.depth_train = torch.compile(self.depth_train)
        # pose_gauge per_source: a log-scale per training source on PoseNet's translation, and
        # each dataset item's source to pick it.
        self.source_gauge: torch.nn.Parameter | None = None
        if config.pose_gauge == 'per_source' and config.pose_source == 'posenet':
            self.source_gauge = torch.nn.Parameter(torch.zeros(len(opened), device=device))
            self.item_group = torch.tensor([self.dataset.groups[c]
                                            for c, _, _ in self.dataset.items])
        optim = config.optim
        params = list(self.depth_net.parameters()) + list(self.pose_net.parameters())
        groups = [{'params': params}]
        if config.model.encoder != 'paper':
            # A pretrained encoder learns at encoder_lr_scale x the rate of the fresh parts,
            # so its ImageNet features are refined rather than overwritten in the first steps.
            encoder = {id(p) for p in self.depth_net.encoder.parameters()}
            groups = [{'params': [p for p in params if id(p) not in encoder]},
                      {'params': list(self.depth_net.encoder.parameters()),
                       'lr_scale': optim.encoder_lr_scale}]
        if self.source_gauge is not None:
            # Adam moves a parameter by about the learning rate a step: at 1e-4 a log-scale
            # would need 16000 steps to reach a 5x speed ratio between cameras.
            groups.append({'params': [self.source_gauge], 'lr_scale': GAUGE_LR_SCALE})
        self.optimizer = torch.optim.Adam(groups, lr=optim.lr, weight_decay=optim.weight_decay)
        self.amp_dtype = autocast_dtype(device, optim.mixed_precision)
        self.amp = self.amp_dtype is not None
        # fp16 needs loss scaling; bf16 has fp32's exponent range and does not.
        self.scaler = torch.amp.GradScaler('cuda', enabled=self.amp_dtype == torch.float16)
        self.synthesis = build_view_synthesis(config.loss, *config.model.disp_range,
                                              auto_mask=config.masking.mode == 'auto'
                                              or config.masking.with_auto)
        per_rank = len(self.dataset) // info.world_size
        self.steps_per_epoch = optim.steps_per_epoch or max(1, per_rank // optim.batch_size)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.depth_scale, self.scale_source = 1.0, 'none'
        # Known motion: metres per unit of the network's depth (TrainConfig.known_translation),
        # which makes the depth metric from the first step.
        self.motion_unit_m = 1.0
        if known:
            if motion is None:
                raise DataError('pose_source mixed: no training clip has poses (use posenet)')
            self.motion_unit_m = motion[0] / config.known_translation
            self.depth_scale, self.scale_source = self.motion_unit_m, 'poses'
            LOG.info('depth is metric: trained with the clips\' own poses (median %.3f m '
                     'between training frames, %.3f m per depth unit)', motion[0],
                     self.motion_unit_m)
        self.history: list[dict[str, Any]] = []
        self.teacher: DepthNet | None = None
        self.saved_at = time.monotonic()
        self.board: Any = None           # TensorBoard writer (rank 0, during fit)
        self._fit_started = (time.monotonic(), 0)

    def train_step(self, batch: TrainBatch) -> tuple[dict[str, float], Any]:
        """One update, in paper order: predict depth and poses, synthesise, losses, step."""
        batch = batch.to(self.device)
        terms, pred, poses, shown = self.losses(batch)
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f'non-finite loss at step {self.global_step}: '
                                     f'{ {k: v.item() for k, v in terms.items()} }')
        lr = learning_rate(self.config.optim, self.epoch, self.global_step)
        for group in self.optimizer.param_groups:
            group['lr'] = lr * group.get('lr_scale', 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        logged = {k: float(v.detach()) for k, v in terms.items()}
        logged['loss'] = float(loss.detach())
        logged.update(step_stats(pred, poses, *self.config.model.disp_range))
        if self.config.masking.mode != 'none':
            logged['masked_share'] = float(shown.masked)
        return logged, (batch, pred, shown)

    def losses(self, batch: TrainBatch) -> tuple[dict[str, torch.Tensor], Any, list, Any]:
        """The loss terms of a batch already on the device, with the graph kept for backward.

        Also returns the depth prediction, the poses used for warping and the masks shown.
        """
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            pred = self.depth_train(batch.images_aug[:, 0], batch.pos, batch.cam)
            # PoseNet sees full frames at s = 1; the crop is enlarged by s, so its scene is
            # 1/s as deep and the translation used for warping shrinks by 1/s (geometry.py).
            poses = [scale_translation(self.pose(batch, j, offset), 1.0 / batch.scale)
                     for j, offset in enumerate(self.config.data.frame_offsets, start=1)]
            masks = batch.masks if self.config.masking.mode == 'spimo' else None
            terms, shown = self_supervised_loss(
                batch.images, batch.K, pred, poses, self.synthesis,
                self.config.loss.smoothness_weight, masks,
                (self.config.loss.gauge_weight, self.config.loss.gauge_target,
                 *self.config.model.disp_range), self.config.loss.full_resolution)
            boost = self.config.boost
            if self.teacher is not None:
                pseudo = pseudo_disparity(self.teacher, batch.images_aug[:, 0], batch.pos,
                                          batch.cam, boost.scales, boost.flip)
                moving, disp = batch.masks[:, 0] > 0.5, pred.full_disp()
                pseudo = align_to_static(pseudo, disp, moving)
                terms['boost'] = boost.weight * boost_loss(disp, pseudo, moving,
                                                           boost.average == 'all')
        return terms, pred, poses, shown

    def pose(self, batch: TrainBatch, j: int, offset: int) -> torch.Tensor:
        """T_nbr_t for neighbour j.

        The clip's own motion in depth units (pose_source: poses; mixed and auto, where the
        clip has poses), or PoseNet's, asked in temporal order (temporal_pose), with what the
        images' geometry fixes put in its place (pose_source: flow; auto, where the clip has no
        poses).
        """
        source = self.config.pose_source
        if self.known_motion:
            known = scale_translation(batch.motion[:, j - 1],
                                      torch.full_like(batch.scale, 1.0 / self.motion_unit_m))
            if source == 'poses':
                return known
        T = temporal_pose(self.pose_train, batch.pose_images[:, 0], batch.pose_images[:, j],
                          batch.cam, offset)
        if self.source_gauge is not None:
            gauge = torch.exp(self.source_gauge[self.item_group[batch.index.cpu()].to(T.device)])
            T = scale_translation(T, gauge)
        if source in ('flow', 'auto'):       # a clip with poses has no fixes (FIXES_NOTHING)
            fixes = batch.fixes[:, j - 1]
            if self.config.flow_fixes == 'rotation':
                fixes = fixes.clamp(max=FIXES_ROTATION)
            T = with_fixed_geometry(T, batch.fixed_rotation[:, j - 1],
                                    batch.fixed_dir[:, j - 1], fixes)
        return torch.where(batch.known[:, None, None], known, T) if self.known_motion else T

    def evaluate(self) -> dict[str, float]:
        """Median-scaled metrics on each evaluation set, prefixed by its name (eval_, unseen_)."""
        return {f'{prefix}_{k}': v for prefix, frames in self.eval_sets.items()
                for k, v in evaluate_frames(self.depth_net, frames, self.config.eval,
                                            self.device).items()}

    def baselines(self) -> dict[str, float]:
        """The priors each evaluation set's model must beat.

        const_*, prior_* (eval set), unseen_const_*, unseen_prior_* (unseen set).
        """
        out: dict[str, float] = {}
        for prefix, frames in self.eval_sets.items():
            lead = prior_prefix(prefix)
            out.update({f'{lead}const_{k}': v for k, v in
                        constant_depth_baseline(frames, self.config.eval).items()})
            out.update({f'{lead}prior_{k}': v for k, v in
                        row_prior_baseline(frames, self.config.eval).items()})
        return out

    def state(self) -> dict[str, Any]:
        """Everything a resume or an export needs."""
        spec = InferenceSpec(self.config.model, self.config.data.base_height,
                             self.config.data.base_width, self.depth_scale, self.scale_source,
                             self.config.spimo)
        return {
            'format': CHECKPOINT_FORMAT, 'config': self.config.to_dict(),
            'inference': spec.to_dict(),
            'depth_net': self.depth_net.state_dict(), 'pose_net': self.pose_net.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'scaler': self.scaler.state_dict(), 'epoch': self.epoch,
            'step_in_epoch': self.step_in_epoch, 'global_step': self.global_step,
            'history': self.history, 'torch_rng': torch.get_rng_state(),
            **({'teacher': self.teacher.state_dict()} if self.teacher is not None else {}),
            **({'source_gauge': self.source_gauge.detach().cpu()}
               if self.source_gauge is not None else {}),
        }

    def load(self, path: Path) -> None:
        """Restore a run to the moment its checkpoint was written."""
        state = read_checkpoint(path)
        self.depth_net.load_state_dict(state['depth_net'])
        self.pose_net.load_state_dict(state['pose_net'])
        if self.source_gauge is not None:
            with torch.no_grad():
                self.source_gauge.copy_(state['source_gauge'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.scaler.load_state_dict(state['scaler'])
        self.epoch, self.step_in_epoch = state['epoch'], state['step_in_epoch']
        self.global_step, self.history = state['global_step'], state['history']
        self.depth_scale = state['inference']['depth_scale']
        self.scale_source = state['inference']['scale_source']
        torch.set_rng_state(state['torch_rng'])
        if 'teacher' in state:
            self.teacher = self._frozen_copy()
            self.teacher.load_state_dict(state['teacher'])
        LOG.info('resumed %s at epoch %d step %d', path, self.epoch + 1, self.step_in_epoch)

    def save(self, also_epoch: bool = False) -> None:
        """Write checkpoints/last.pt (and a per-epoch copy) and metrics.csv; rank 0 only."""
        if not self.info.is_main:
            return
        state = self.state()
        run_dir.save_checkpoint(self.out / run_dir.LAST_CHECKPOINT, state)
        slim = slim_checkpoint(state)
        run_dir.save_checkpoint(self.out / run_dir.MODEL_FILE, slim)
        if also_epoch:
            run_dir.save_checkpoint(self.out / f'checkpoints/epoch_{self.epoch:03d}.pt', state)
        if self.step_in_epoch == 0 and self.epoch in self.config.optim.snapshot_epochs:
            run_dir.save_checkpoint(self.out / f'checkpoints/model_epoch_{self.epoch:03d}.pt',
                                    slim)
        run_dir.write_metrics(self.out / run_dir.METRICS_NAME, self.history)
        self.saved_at = time.monotonic()

    def fit(self) -> list[dict[str, Any]]:
        """Train for the configured epochs from wherever the run stands."""
        self._fit_started = (time.monotonic(), self.global_step)
        if self.info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a killed run wrote after its last checkpoint.
            self.board = SummaryWriter(str(self.out / run_dir.TENSORBOARD_DIR),
                                       purge_step=self.global_step or None)
        try:
            return self._fit()
        finally:
            if self.board is not None:
                self.board.close()
                self.board = None

    def _fit(self) -> list[dict[str, Any]]:
        optim = self.config.optim
        if not self.history and self.info.is_main:
            untrained, priors = self.evaluate(), self.baselines()
            self.history.append({'epoch': 0, 'step': 0, **untrained, **priors})
            for prefix in self.eval_sets:
                lead = prior_prefix(prefix)
                LOG.info('%s AbsRel: untrained network %.4f, constant depth %.4f, depth by '
                         'row %.4f', prefix, untrained.get(f'{prefix}_abs_rel', float('nan')),
                         priors.get(f'{lead}const_abs_rel', float('nan')),
                         priors.get(f'{lead}prior_abs_rel', float('nan')))
        if self.epoch < optim.epochs and self.scale_source in ('odometry', 'camera_height'):
            self.scale_source = 'none'   # an extended run: calibrated again when it ends
        while self.epoch < optim.epochs:
            self._run_epoch()
        if self.info.is_main and self.scale_source == 'none':
            self._calibrate_scale()
        return self.history

    def _calibrate_scale(self) -> None:
        """Make depth metric from odometry, else from a known camera height.

        Odometry counts when every training clip has poses; otherwise the log says that the
        output is not metric. A run trained with known motion is metric already (__init__).
        """
        d = self.config.data
        try:
            if all(clip.pose(0) is not None for clip in self.dataset.clips):
                self.depth_scale, pairs = odometry_scale(self.state())
                self.scale_source = 'odometry'
                LOG.info('metric scale from odometry: %.4f m per unit (%d frame pairs)',
                         self.depth_scale, pairs)
            elif d.camera_height_m > 0:
                self.depth_scale, frames = camera_height_scale(predicted_depths(
                    self.depth_net, self.dataset.clips, d.base_width, d.base_height),
                    d.camera_height_m)
                self.scale_source = 'camera_height'
                LOG.info('metric scale from the camera height (%.2f m): %.4f m per unit '
                         '(ground found in %d frames)', d.camera_height_m, self.depth_scale,
                         frames)
            else:
                LOG.info('no poses on every training clip and no data.camera_height_m: depth '
                         'is up to scale (not metric); give odometry (e.g. --odom-topic) or '
                         'the camera height (--camera-height) for metres')
                return
        except DataError as err:
            LOG.warning('%s; the model is kept up to scale (not metric)', err)
            return
        self.save()

    def _frozen_copy(self) -> DepthNet:
        """The depth network as it is now, in eval mode and without gradients."""
        return copy.deepcopy(self.depth_net).eval().requires_grad_(False)

    def _run_epoch(self) -> None:
        optim, info = self.config.optim, self.info
        self.dataset.set_epoch(self.epoch)
        boost = self.config.boost
        refresh = self.step_in_epoch == 0 and (boost.teacher == 'epoch' or
                                               self.epoch == boost.start_epoch)
        if boost.weight > 0 and self.epoch >= boost.start_epoch and (
                refresh or self.teacher is None):
            # Boosting's teacher: the network as it starts this epoch, frozen (an epoch resumed
            # mid-way keeps the one its checkpoint holds). A label made by the network being
            # trained is met exactly by any flat output (every view of a constant depth map
            # agrees), and measured, stage 2 fell to one within an epoch.
            self.teacher = self._frozen_copy()
        count = self.steps_per_epoch * optim.batch_size
        sampler = EpochSampler(len(self.dataset), count, optim.seed, self.epoch, info,
                               self.step_in_epoch * optim.batch_size,
                               self.dataset.draw_weights())
        loader = DataLoader(self.dataset, batch_size=optim.batch_size, sampler=sampler,
                            num_workers=self.config.data.num_workers, collate_fn=collate,
                            drop_last=True, pin_memory=self.device.type == 'cuda')
        sums: dict[str, float] = {}
        started, last = time.monotonic(), None
        bar = tqdm(loader, total=len(loader), disable=not info.is_main, leave=False,
                   desc=f'epoch {self.epoch + 1}/{optim.epochs}', unit='step')
        for batch in bar:
            logged, last = self.train_step(batch)
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + v
            self.step_in_epoch += 1
            self.global_step += 1
            bar.set_postfix(loss=f'{logged["loss"]:.4f}')
            if self.board is not None and self.global_step % BOARD_EVERY_STEPS == 0:
                for k, v in logged.items():
                    self.board.add_scalar(f'train/{k}', v, self.global_step)
                self.board.add_scalar('train/lr', self.optimizer.param_groups[0]['lr'],
                                      self.global_step)
            by_steps = optim.checkpoint_every_steps and \
                self.global_step % optim.checkpoint_every_steps == 0
            by_time = optim.checkpoint_every_minutes and \
                time.monotonic() - self.saved_at > 60 * optim.checkpoint_every_minutes
            if (by_steps or by_time) and self.step_in_epoch < self.steps_per_epoch:
                self.save()
        steps = max(1, len(loader))
        self.epoch += 1
        self.step_in_epoch = 0
        if not info.is_main:
            return
        row: dict[str, Any] = {'epoch': self.epoch, 'step': self.global_step,
                               'lr': self.optimizer.param_groups[0]['lr'],
                               **{k: v / steps for k, v in sums.items()},
                               'time_s': time.monotonic() - started, **self.evaluate()}
        priors = self.history[0] if self.history else {}     # epoch 0: the baselines
        reason = collapse_reason({**priors, **row})
        row['collapsed'] = int(reason is not None)
        self.history.append(row)
        if reason:
            LOG.warning('epoch %d: training has collapsed: %s', self.epoch, reason)
        if last is not None:
            self._write_preview(*last)
        self.save(also_epoch=self.epoch == optim.epochs)
        if self.board is not None:
            for k, v in row.items():
                if k not in ('epoch', 'step') and isinstance(v, float):
                    self.board.add_scalar(f'{"eval" if k.startswith("eval_") else "epoch"}/{k}',
                                          v, self.global_step)
            self.board.flush()
        LOG.info('epoch %d/%d: %s; run ETA %s', self.epoch, optim.epochs,
                 ', '.join(f'{k} {v:.4g}' for k, v in row.items()
                           if k not in ('epoch', 'step') and isinstance(v, float)),
                 self._eta())

    def _eta(self) -> str:
        """Time left for the whole run at this session's pace (H:MM:SS)."""
        started, first_step = self._fit_started
        done = self.global_step - first_step
        left = self.config.optim.epochs * self.steps_per_epoch - self.global_step
        if done <= 0:
            return 'unknown'
        seconds = int((time.monotonic() - started) / done * max(0, left))
        return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'

    def _write_preview(self, batch: TrainBatch, pred: Any, shown: Any) -> None:
        panel = preview_panel(batch.images[0, 0], pred.full_disp()[0], shown.synth[0],
                              shown.error[0], shown.valid[0])
        write_png(self.out / 'previews' / f'epoch_{self.epoch:03d}.png', panel)
        if self.board is not None:
            self.board.add_image('preview', panel, self.global_step, dataformats='HWC')
