"""Stage 2: masked view synthesis, auto-masking, boosting, offline SPIMO masks, full pipeline."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch
import yaml

from svde_ros.geometry import positional_grid
from svde_ros.model import DepthNet
from svde_ros.model.config import ModelConfig
from svde_ros.model.quantization import normalized_log_disparity
from svde_training.boosting import (
    align_to_static,
    boost_loss,
    enlarge,
    mirror_positions,
    pseudo_disparity,
)
from svde_training.cli import main
from svde_training.config import ConfigError, LossConfig, config_from_dict
from svde_training.data.augment import CropParams, crop_positions
from svde_training.data.clip import DataError
from svde_training.data.synthetic import SyntheticClip
from svde_training.distributed import DistInfo
from svde_training.losses import MOVING_SHARE, ForwardWarpSynthesis, ScaleInputs
from svde_training.masks import MaskStore
from svde_training.trainer import Trainer
from svde_training.warping import forward_warp

from .test_trainer import TINY, _write

DISP_RANGE = (0.01, 10.0)


def _tensor(image):
    if image.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(image)).float()[None, None]
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope='module')
def clip():
    return SyntheticClip(seed=3, num_frames=12, height=96, width=256, num_movers=2)


def _gt_inputs(clip, t, n, masks=None):
    """ScaleInputs of frames t -> n with a one-level prediction at the GT depth and GT pose."""
    disp = 1.0 / _tensor(clip.depth(t))
    K = torch.from_numpy(clip.intrinsics(t).matrix()).float()[None]
    T = torch.from_numpy(np.linalg.inv(clip.pose(n)) @ clip.pose(t)).float()[None]
    return ScaleInputs(target=_tensor(clip.image(t)), neighbours=[_tensor(clip.image(n))],
                       probs=torch.ones_like(disp), levels=disp, disp=disp, K=K, poses=[T],
                       masks=masks)


def test_forward_warp_carries_extra_channels_like_colour(clip):
    image, mask = _tensor(clip.image(4)), _tensor(clip.moving_mask(4).astype(np.float32))
    disp = 1.0 / _tensor(clip.depth(4))
    K = torch.from_numpy(clip.intrinsics(4).matrix()).float()[None]
    unit = normalized_log_disparity(disp, *DISP_RANGE)
    both = forward_warp(torch.cat([image, mask], 1), torch.ones_like(disp), disp, unit, K,
                        torch.eye(4)[None])
    colour = forward_warp(image, torch.ones_like(disp), disp, unit, K, torch.eye(4)[None])
    assert torch.equal(both.landed, colour.landed)
    assert torch.allclose(both.image[:, :3], colour.image, atol=1e-6)
    assert torch.allclose(both.image[:, 3:], mask, atol=2e-3)   # float32 round-off


def test_masks_remove_moving_pixels_of_both_frames_and_lower_the_error(clip):
    t, n = 4, 5
    config = LossConfig(ssim_weight=0.0)
    plain = ForwardWarpSynthesis(config, *DISP_RANGE)(_gt_inputs(clip, t, n))
    masks = [_tensor(clip.moving_mask(i).astype(np.float32)) for i in (t, n)]
    masked = ForwardWarpSynthesis(config, *DISP_RANGE)(_gt_inputs(clip, t, n, masks))
    assert clip.moving_mask(n).any()
    # The neighbour's own moving pixels never enter the loss ...
    assert not (masked.valid & (masks[1] > 0.5)).any()
    # ... nor the pixels that frame t's moving pixels land on.
    inputs = _gt_inputs(clip, t, n)
    warped = forward_warp(masks[0], inputs.probs, inputs.levels,
                          normalized_log_disparity(inputs.levels, *DISP_RANGE), inputs.K,
                          inputs.poses[0])
    assert not (masked.valid & (warped.image > MOVING_SHARE)).any()
    assert (masked.valid <= plain.valid).all() and 0 < float(masked.masked) < 0.5
    # With GT depth and the camera's pose only the moving objects break view synthesis: the
    # pixels the masks removed are the badly synthesised ones.
    removed = plain.valid & ~masked.valid
    assert plain.error[removed].mean() > 3 * plain.error[masked.valid].mean()
    assert masked.loss < plain.loss


def test_auto_mask_drops_pixels_the_unwarped_frame_explains(clip):
    config = LossConfig(ssim_weight=0.0)
    auto = ForwardWarpSynthesis(config, *DISP_RANGE, auto_mask=True)
    still = _gt_inputs(clip, 4, 5)
    still.neighbours, still.poses = [still.target], [torch.eye(4)[None]]
    assert float(auto(still).masked) == pytest.approx(1.0)    # a static camera: all masked
    moving_camera = auto(_gt_inputs(clip, 4, 5))
    assert float(moving_camera.masked) < 0.5                   # most pixels are kept


def test_mirrored_positions_are_those_of_the_mirrored_crop():
    crop = CropParams(300, 120, 37, 20, 192, 64, False, 256)
    mirrored = CropParams(300, 120, 300 - 37 - 192, 20, 192, 64, True, 256)
    expected = torch.from_numpy(crop_positions(mirrored))[None]
    got = mirror_positions(torch.from_numpy(crop_positions(crop))[None])
    assert torch.allclose(got, expected, atol=1e-6)
    full = torch.from_numpy(positional_grid(64, 96))[None]
    assert torch.allclose(mirror_positions(full), full, atol=1e-6)


def test_pseudo_label_is_the_network_itself_without_gradient_at_one_scale():
    torch.manual_seed(0)
    net = DepthNet(ModelConfig(width=0.25, num_levels=9)).eval()
    image = torch.rand(2, 3, 64, 96)
    pos = torch.from_numpy(positional_grid(64, 96))[None].expand(2, -1, -1, -1)
    cam = torch.tensor([[0.58, 1.5], [0.58, 1.5]])
    pseudo = pseudo_disparity(net, image, pos, cam, (1.0,), False)
    assert not pseudo.requires_grad
    with torch.no_grad():
        # Positions are re-sampled from their affine ramp, so equal to float rounding.
        assert torch.allclose(pseudo, net.predict_disparity(image, pos, cam), rtol=1e-4,
                              atol=1e-6)
    fused = pseudo_disparity(net, image, pos, cam, (1.0, 1.5), True)
    assert fused.shape == (2, 1, 64, 96) and torch.isfinite(fused).all()


def test_boost_loss_counts_masked_pixels_only():
    disp = torch.full((1, 1, 4, 4), 0.5, requires_grad=True)
    pseudo = torch.full((1, 1, 4, 4), 1.0)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    assert float(boost_loss(disp, pseudo, mask).detach()) == 0.0
    mask[..., :2, :] = True
    loss = boost_loss(disp, pseudo, mask)
    assert float(loss.detach()) == pytest.approx(np.log(2.0), rel=1e-5)
    loss.backward()
    assert (disp.grad[..., 2:, :] == 0).all() and (disp.grad[..., :2, :] != 0).all()


def test_stage2_config_errors_name_the_key():
    with pytest.raises(ConfigError, match='masking.masks_dir'):
        config_from_dict({'masking': {'mode': 'spimo'}})
    with pytest.raises(ConfigError, match='boost.weight'):
        config_from_dict({'masking': {'mode': 'auto'}, 'boost': {'weight': 0.1}})
    with pytest.raises(ConfigError, match='masking.mode'):
        config_from_dict({'pipeline': 'full', 'masking': {'mode': 'none'}})
    with pytest.raises(ConfigError, match="masking.mode: expected one of"):
        config_from_dict({'masking': {'mode': 'spimo2'}})
    with pytest.raises(ConfigError, match='masking.with_auto'):
        config_from_dict({'masking': {'mode': 'auto', 'with_auto': True}})


FULL = {**TINY, 'pipeline': 'full', 'masking': {'mode': 'spimo'},
        'boost': {'weight': 0.1, 'scales': [1.0, 1.25]},
        'spimo': {'delta': 0.2, 'scale': 1.0, 'threshold': 0.001},
        'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 2}}


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('full')
    out = tmp / 'run'
    assert main(['fit', '--config', str(_write(tmp, FULL)), '--out', str(out)]) == 0
    return tmp, out


def test_full_pipeline_keeps_every_stage_under_the_run(full_run):
    _, out = full_run
    for part in ('config.yaml', 'summary.json', 'checkpoints/model.pt',
                 'stage1/checkpoints/last.pt', 'stage2/checkpoints/last.pt',
                 'masks/manifest.json', 'masks/synthetic-0/000000.png', 'masks/previews'):
        assert (out / part).exists(), part
    assert len(list((out / 'masks' / 'synthetic-0').glob('*.png'))) == 8
    stage2 = yaml.safe_load((out / 'stage2' / 'config.yaml').read_text())
    assert stage2['masking'] == {'mode': 'spimo', 'masks_dir': str(out / 'masks'),
                                 'with_auto': False}
    stage1 = yaml.safe_load((out / 'stage1' / 'config.yaml').read_text())
    assert stage1['masking']['mode'] == 'none' and stage1['boost']['weight'] == 0.0
    header, *rows = (out / 'stage2' / 'metrics.csv').read_text().splitlines()
    assert 'boost' in header and 'masked_share' in header
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['masks']['frames'] == 8 and 'mask_iou' in summary['masks']
    assert (out / 'checkpoints/model.pt').read_bytes() == \
        (out / 'stage2/checkpoints/model.pt').read_bytes()


def test_masks_command_resumes_and_refuses_other_masks(full_run):
    tmp, out = full_run
    masks = out / 'masks'
    files = sorted((masks / 'synthetic-0').glob('*.png'))
    stamps = [f.stat().st_mtime_ns for f in files]
    files[3].unlink()                                      # an interrupted run
    checkpoint = str(out / 'stage1' / 'checkpoints' / 'last.pt')
    assert main(['masks', '--checkpoint', checkpoint, '--out', str(masks)]) == 0
    assert files[3].is_file()
    assert [f.stat().st_mtime_ns for f in files if f != files[3]] == \
        [s for f, s in zip(files, stamps) if f != files[3]]
    # Other settings into the same folder: refused, nothing touched.
    assert main(['masks', '--checkpoint', checkpoint, '--out', str(masks),
                 '--spimo-threshold', '0.5']) == 2
    assert files[0].stat().st_mtime_ns == stamps[0]


def test_mask_store_names_the_file_that_does_not_fit(full_run, tmp_path):
    _, out = full_run
    shutil.copytree(out / 'masks', tmp_path / 'masks')     # the fixture stays intact
    store = MaskStore(tmp_path / 'masks')
    clip = SyntheticClip(0, 8, 64, 128)
    store.check([clip], 128, 64)
    with pytest.raises(DataError, match='masks are 128x64'):
        store.check([clip], 256, 64)
    with pytest.raises(DataError, match='no masks for clip synthetic-7'):
        store.check([SyntheticClip(7, 8, 64, 128)], 128, 64)
    (tmp_path / 'masks' / 'synthetic-0' / '000002.png').write_bytes(b'not a png')
    with pytest.raises(DataError, match='000002.png'):
        store.mask('synthetic-0', 2)
    with pytest.raises(DataError, match='manifest.json not found'):
        MaskStore(out / 'stage1')


def test_masks_and_evaluate_name_a_bad_checkpoint(full_run, tmp_path, caplog):
    _, out = full_run
    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes((out / 'stage1' / 'checkpoints' / 'last.pt').read_bytes()[:5000])
    other = tmp_path / 'other.pt'
    state = torch.load(out / 'stage1' / 'checkpoints' / 'last.pt', weights_only=True)
    state['inference']['model']['width'] = 0.5            # another architecture
    torch.save(state, other)
    for bad, says in ((corrupt, 'cannot read checkpoint'), (other, 'do not fit the network')):
        caplog.clear()
        assert main(['masks', '--checkpoint', str(bad), '--out', str(tmp_path / 'm')]) == 2
        assert str(bad) in caplog.text and says in caplog.text
        caplog.clear()
        assert main(['evaluate', '--checkpoint', str(bad)]) == 2
        assert str(bad) in caplog.text
    assert not (tmp_path / 'm').exists()


def test_masks_with_auto_masking_leave_out_more_than_the_masks(full_run, tmp_path):
    """with_auto: the movers' masks and auto-masking together (the recipe's stage 2).

    Same seed, same first batch, masks flagging each frame's left quarter: the masks alone
    leave pixels out, and auto-masking can only add to them.
    """
    _, out = full_run
    masks = tmp_path / 'masks'
    shutil.copytree(out / 'masks', masks)
    for png in masks.glob('*/*.png'):
        flagged = np.zeros_like(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE))
        flagged[:, :flagged.shape[1] // 4] = 255
        cv2.imwrite(str(png), flagged)
    shares = {}
    for with_auto in (False, True):
        config = {**TINY, 'masking': {'mode': 'spimo', 'masks_dir': str(masks),
                                      'with_auto': with_auto},
                  'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}}
        run = tmp_path / f'run_{with_auto}'
        assert main(['fit', '--config', str(_write(tmp_path, config)), '--out', str(run)]) == 0
        header, *_, row = (run / 'metrics.csv').read_text().splitlines()
        shares[with_auto] = float(row.split(',')[header.split(',').index('masked_share')])
    assert shares[True] > shares[False] > 0


def test_boosting_waits_for_its_start_epoch(full_run, tmp_path):
    _, out = full_run
    config = {**TINY, 'masking': {'mode': 'spimo', 'masks_dir': str(out / 'masks')},
              'boost': {'weight': 0.1, 'start_epoch': 1},
              'optim': {**TINY['optim'], 'epochs': 2, 'steps_per_epoch': 1}}
    run = tmp_path / 'run'
    assert main(['fit', '--config', str(_write(tmp_path, config)), '--out', str(run)]) == 0
    header, _, first, second = (run / 'metrics.csv').read_text().splitlines()
    column = header.split(',').index('boost')
    # Computed from its start epoch on (it may be 0 there: a fresh network's map is nearly
    # flat, and a flat label aligned to a flat map matches it exactly).
    assert first.split(',')[column] == '' and float(second.split(',')[column]) >= 0


def test_boosting_teacher_is_the_network_frozen_at_the_epoch_start(full_run, tmp_path):
    """A label from the network being trained is met by a flat output; the teacher is not."""
    _, out = full_run
    config = config_from_dict({**TINY, 'masking': {'mode': 'spimo',
                                                   'masks_dir': str(out / 'masks')},
                               'boost': {'weight': 0.1, 'start_epoch': 1},
                               'optim': {**TINY['optim'], 'epochs': 2, 'steps_per_epoch': 2}})
    trainer = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    trainer._run_epoch()
    assert trainer.teacher is None
    start = {k: v.clone() for k, v in trainer.depth_net.state_dict().items()}
    trainer._run_epoch()
    teacher = trainer.teacher
    assert teacher is not None and teacher is not trainer.depth_net and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, start[name]), name
    moved = [k for k, v in trainer.depth_net.state_dict().items()
             if v.is_floating_point() and not torch.equal(v, start[k])]
    assert moved, 'the student did not train'
    # A run resumed mid-epoch keeps the epoch's teacher, not a copy of the resumed student.
    trainer.step_in_epoch = 1
    resumed = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    torch.save(trainer.state(), tmp_path / 'mid.pt')
    resumed.load(tmp_path / 'mid.pt')
    resumed.epoch = 1
    resumed._run_epoch()
    assert resumed.teacher is not None and not resumed.teacher.training
    for name, value in resumed.teacher.state_dict().items():
        assert torch.equal(value, start[name]), name


def test_enlarged_positions_are_those_of_the_crop_of_an_enlarged_frame():
    crop = CropParams(300, 120, 36, 20, 192, 64, False, 256)
    image, pos, (H, W) = enlarge(torch.rand(1, 3, 64, 192),
                                 torch.from_numpy(crop_positions(crop))[None], 1.25)
    assert (H, W) == (80, 240) and image.shape[-2:] == pos.shape[-2:] == (96, 256)
    bigger = CropParams(375, 150, 45, 25, 240, 80, False, 256)   # the same crop, frame x1.25
    expected = torch.from_numpy(crop_positions(bigger))[None]
    assert torch.allclose(pos[..., :H, :W], expected, atol=1e-5)


def test_pseudo_label_keeps_only_relative_depth():
    disp = torch.rand(2, 1, 8, 8) + 0.1
    moving = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    moving[..., :3, :3] = True
    pseudo = disp * torch.tensor([2.0, 0.5]).reshape(2, 1, 1, 1)   # right shape, wrong scale
    pseudo[..., :3, :3] *= 1.5                                      # movers 1.5x nearer
    aligned = align_to_static(pseudo, disp, moving)
    assert torch.allclose(aligned[~moving], disp[~moving], rtol=1e-5)
    assert torch.allclose(aligned[moving], 1.5 * disp[moving], rtol=1e-5)


def test_fixed_teacher_is_kept_after_start_epoch(full_run, tmp_path):
    _, out = full_run
    config = config_from_dict({**TINY, 'masking': {'mode': 'spimo',
                                                   'masks_dir': str(out / 'masks')},
                               'boost': {'weight': 0.1, 'start_epoch': 0, 'teacher': 'fixed'},
                               'optim': {**TINY['optim'], 'epochs': 2, 'steps_per_epoch': 2}})
    trainer = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    start = {k: v.clone() for k, v in trainer.depth_net.state_dict().items()}
    trainer._run_epoch()
    trainer._run_epoch()                   # an 'epoch' teacher would be refreshed here
    for name, value in trainer.teacher.state_dict().items():
        assert torch.equal(value, start[name]), name


def test_boost_term_averaged_over_masked_or_all_pixels():
    disp = torch.ones(1, 1, 4, 4)
    pseudo = torch.ones(1, 1, 4, 4)
    pseudo[..., 0, :2] = np.e                           # 2 masked pixels, |log| error 1
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 0, :2] = True
    assert boost_loss(disp, pseudo, mask).item() == pytest.approx(1.0)
    assert boost_loss(disp, pseudo, mask, over_all_pixels=True).item() == pytest.approx(2 / 16)


def test_spimo_options_change_only_what_they_name():
    # --spimo-threshold on `masks`/`export` once rebuilt the settings positionally and lost
    # the checkpoint's shift axes.
    import argparse

    from svde_ros.spimo import SpimoConfig
    from svde_training.cli import _spimo_settings

    own = SpimoConfig(delta=0.2, scale=0.25, threshold=0.1, axes='v')
    args = argparse.Namespace(spimo_delta=None, spimo_scale=None, spimo_threshold=0.5)
    assert _spimo_settings(args, own) == SpimoConfig(delta=0.2, scale=0.25, threshold=0.5,
                                                     axes='v')


def test_motion_masks_for_stage2_in_the_same_layout(full_run, tmp_path):
    """`masks --method motion`: the node's mask, written where stage 2 reads masks."""
    _, out = full_run
    checkpoint = str(out / 'stage1' / 'checkpoints' / 'last.pt')
    masks = tmp_path / 'motion'
    assert main(['masks', '--checkpoint', checkpoint, '--out', str(masks), '--method',
                 'motion', '--gap', '2']) == 0
    manifest = json.loads((masks / 'manifest.json').read_text())
    assert manifest['motion']['gap'] == 2 and 'spimo' not in manifest
    store = MaskStore(masks)
    clip = SyntheticClip(0, 8, 64, 128)
    store.check([clip], 128, 64)
    assert all(store.mask(clip.name, i).shape == (64, 128) for i in range(8))
    # Made differently (SPIMO) into the same folder: refused, nothing touched.
    assert main(['masks', '--checkpoint', checkpoint, '--out', str(masks)]) == 2
    assert main(['masks', '--checkpoint', checkpoint, '--out', str(masks), '--method',
                 'motion', '--gap', '0']) == 2
