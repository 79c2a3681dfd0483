"""End-to-end runs of `svde-train fit` on tiny synthetic configs (real CLI, real files)."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import yaml

from svde_ros.model.checkpoint import CheckpointError, load_depth_net
from svde_training.cli import main
from svde_training.config import OptimConfig
from svde_training.trainer import learning_rate

# A small network with every part of the paper's stage 1 switched on (config/paper_stage1.yaml:
# AQUANet levels, resize + crop, the conv PoseNet, bf16), so that the tests built on it reach
# each of them; test_config checks the recipe's defaults.
TINY = {
    'data': {
        'sources': [{'type': 'synthetic', 'seed': 0, 'num_clips': 1, 'num_frames': 8,
                     'height': 64, 'width': 128}],
        'eval_sources': [{'type': 'synthetic', 'seed': 100, 'num_clips': 1, 'num_frames': 3,
                          'height': 64, 'width': 128}],
        'base_height': 64, 'base_width': 128, 'crop_height': 64, 'crop_width': 96,
        'scale_min': 1.0, 'scale_max': 1.2, 'hue': 0.05,
    },
    'model': {'width': 0.25, 'num_levels': 9, 'quantization': 'aquanet', 'head_stride': 2},
    'pose_encoder': 'convs',
    'pose_source': 'posenet',      # the synthetic clips have poses: keep PoseNet's path tested
    'pose_width': 0.25,
    'pose_translation_scale': 0.1,
    'loss': {'full_resolution': False},
    'masking': {'mode': 'none'},
    'optim': {'batch_size': 2, 'epochs': 3, 'steps_per_epoch': 4, 'lr': 1e-3,
              'checkpoint_every_steps': 1, 'warmup_steps': 50, 'mixed_precision': True},
}


def _write(tmp_path, config, name='tiny.yaml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def _env():
    return {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1'}


def test_fit_writes_a_complete_run_and_loss_falls(tmp_path):
    config = {**TINY, 'data': {**TINY['data'], 'flip_prob': 0.0, 'brightness': 0.0,
                               'contrast': 0.0, 'saturation': 0.0, 'hue': 0.0},
              'optim': {**TINY['optim'], 'epochs': 5, 'steps_per_epoch': 6}}
    out = tmp_path / 'run'
    assert main(['fit', '--config', str(_write(tmp_path, config)), '--out', str(out)]) == 0
    rows = (out / 'metrics.csv').read_text().splitlines()
    header = rows[0].split(',')
    assert len(rows) == 1 + 1 + 5          # header, untrained row, one row per epoch
    losses = [float(r.split(',')[header.index('loss')]) for r in rows[2:]]
    assert all(torch.isfinite(torch.tensor(losses)))   # falling: test_a_step_lowers_the_loss
    # Health statistics and the collapse verdict of every epoch, and the priors beside them.
    assert {'disp_pos', 'near_end', 'level_span', 'log_disp_std', 'entropy', 'saturated',
            'logit_range', 'trans',
            'rot_deg', 'collapsed'} <= set(header)
    assert {'const_abs_rel', 'prior_abs_rel'} <= set(header)
    ranges = [float(r.split(',')[header.index('logit_range')]) for r in rows[2:]]
    assert max(ranges) <= 2 * 8.0 + 1e-3          # the default logit cap holds in training
    assert sorted(p.name for p in (out / 'previews').iterdir()) == [
        f'epoch_{e:03d}.png' for e in range(1, 6)]
    net, spec = load_depth_net(out / 'checkpoints' / 'last.pt')
    assert (spec.input_height, spec.input_width) == (64, 128)
    assert spec.model.num_levels == 9
    assert spec.scale_source == 'odometry' and spec.depth_scale > 0   # synthetic has poses
    assert load_depth_net(out / 'checkpoints' / 'model.pt')[1].depth_scale == spec.depth_scale
    assert yaml.safe_load((out / 'config.yaml').read_text())['optim']['epochs'] == 5
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    board = EventAccumulator(str(out / 'tensorboard'), size_guidance={'images': 0})
    board.Reload()
    tags = board.Tags()
    assert {'train/loss', 'train/lr', 'epoch/loss', 'eval/eval_abs_rel'} <= set(tags['scalars'])
    assert [e.step for e in board.Scalars('eval/eval_abs_rel')] == [6, 12, 18, 24, 30]
    assert len(board.Images('preview')) == 5


def test_run_folder_is_protected(tmp_path, caplog):
    cfg = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}})
    out = tmp_path / 'run'
    assert main(['fit', '--config', str(cfg), '--out', str(out)]) == 0
    before = (out / 'checkpoints' / 'last.pt').read_bytes()
    assert main(['fit', '--config', str(cfg), '--out', str(out)]) == 2
    assert 'already holds a run; pass --resume' in caplog.text
    other = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'lr': 5e-4}}, 'other.yaml')
    assert main(['fit', '--config', str(other), '--out', str(out), '--resume']) == 2
    assert 'another config (differs at: optim.epochs, optim.lr' in caplog.text
    assert (out / 'checkpoints' / 'last.pt').read_bytes() == before   # untouched
    foreign = tmp_path / 'photos'
    foreign.mkdir()
    (foreign / 'holiday.jpg').write_bytes(b'precious')
    assert main(['fit', '--config', str(cfg), '--out', str(foreign)]) == 2
    assert 'not empty and holds no run' in caplog.text
    assert (foreign / 'holiday.jpg').read_bytes() == b'precious'
    assert main(['fit', '--config', str(other), '--out', str(out), '--force']) == 0


def test_bad_input_gives_a_message_not_a_traceback(tmp_path, caplog):
    missing = dict(TINY, data={**TINY['data'], 'sources': [
        {'type': 'folder', 'path': str(tmp_path / 'nowhere'), 'intrinsics': 'k.yaml'}]})
    assert main(['fit', '--config', str(_write(tmp_path, missing)), '--out',
                 str(tmp_path / 'r')]) == 2
    assert 'image folder not found' in caplog.text
    typo = _write(tmp_path, {'optim': {'epoch': 2}}, 'typo.yaml')
    assert main(['fit', '--config', str(typo), '--out', str(tmp_path / 'r2')]) == 2
    assert "unknown key 'optim.epoch'" in caplog.text
    (tmp_path / 'bad.pt').write_bytes(b'\x00' * 100)
    with pytest.raises(CheckpointError, match='bad.pt is not a checkpoint: checkpoints are'):
        load_depth_net(tmp_path / 'bad.pt')
    (tmp_path / 'notes.txt').write_text('hello')
    assert main(['evaluate', '--checkpoint', str(tmp_path / 'notes.txt')]) == 2
    assert 'notes.txt is not a checkpoint: checkpoints are torch zip archives' in caplog.text


def _fit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'svde_training.cli', 'fit', *args], env=_env(),
                          capture_output=True, text=True, timeout=300)


def test_resume_after_kill_loses_nothing(tmp_path):
    # Every run is a subprocess with the same thread count, so float summation order (and
    # therefore Adam's updates) are identical and the comparison can be strict.
    cfg = _write(tmp_path, TINY)
    reference = tmp_path / 'reference'
    assert _fit('--config', str(cfg), '--out', str(reference)).returncode == 0

    out = tmp_path / 'killed'
    proc = subprocess.Popen([sys.executable, '-m', 'svde_training.cli', 'fit', '--config',
                             str(cfg), '--out', str(out)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / 'checkpoints' / 'last.pt'
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists()
    killed_at = torch.load(checkpoint, weights_only=True)['global_step']
    assert 0 < killed_at < 12              # the kill landed mid-run
    resumed = _fit('--config', str(cfg), '--out', str(out), '--resume')
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    a = torch.load(reference / 'checkpoints' / 'last.pt', weights_only=True)
    b = torch.load(checkpoint, weights_only=True)
    assert b['global_step'] == a['global_step'] == 12
    assert [r['epoch'] for r in b['history']] == [0, 1, 2, 3]
    for name, tensor in a['depth_net'].items():
        assert torch.allclose(tensor.float(), b['depth_net'][name].float(), atol=1e-6), name


def test_a_resumed_run_extended_to_more_epochs_is_the_longer_run(tmp_path):
    reference = tmp_path / 'reference'
    assert _fit('--config', str(_write(tmp_path, TINY)), '--out', str(reference)).returncode == 0
    short = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'epochs': 2}}, 'short.yaml')
    out = tmp_path / 'extended'
    assert _fit('--config', str(short), '--out', str(out)).returncode == 0
    fewer = _fit('--config', str(short), '--out', str(out), '--resume', '--set',
                 'optim.epochs=1')
    assert fewer.returncode != 0 and 'differs at: optim.epochs' in fewer.stderr
    longer = _fit('--config', str(short), '--out', str(out), '--resume', '--set',
                  'optim.epochs=3')
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert 'extending' in longer.stderr
    a = torch.load(reference / 'checkpoints' / 'last.pt', weights_only=True)
    b = torch.load(out / 'checkpoints' / 'last.pt', weights_only=True)
    assert b['global_step'] == a['global_step'] == 12
    for name, tensor in a['depth_net'].items():
        assert torch.allclose(tensor.float(), b['depth_net'][name].float(), atol=1e-6), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_on_gloo(tmp_path):
    cfg = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'epochs': 2,
                                              'steps_per_epoch': 3}})
    out = tmp_path / 'ddp'
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_addr', '127.0.0.1', '--master_port', str(_free_port()),
         '-m', 'svde_training.cli', 'fit', '--config', str(cfg), '--out', str(out),
         '--device', 'cpu'], env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = dict(re.findall(r'rank (\d): 6 steps, parameter checksum (\S+)', result.stderr))
    assert set(ranks) == {'0', '1'}, result.stderr[-3000:]
    assert ranks['0'] == ranks['1']           # gradients averaged: replicas identical
    assert (out / 'checkpoints' / 'last.pt').is_file()
    assert len(list((out / 'previews').iterdir())) == 2
    assert result.stderr.count('summary:') == 1   # only rank 0 reports and writes


def test_learning_rate_warms_up_linearly_then_steps_per_epoch():
    optim = OptimConfig(lr=1e-3, warmup_steps=4, lr_step_epochs=2, lr_gamma=0.5)
    assert [learning_rate(optim, 0, s) for s in range(6)] == pytest.approx(
        [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert learning_rate(optim, 1, 40) == pytest.approx(1e-3)
    assert learning_rate(optim, 2, 80) == pytest.approx(5e-4)
    assert learning_rate(optim, 5, 200) == pytest.approx(2.5e-4)
    assert learning_rate(OptimConfig(lr=1e-3, warmup_steps=0), 0, 0) == pytest.approx(1e-3)



def test_sigterm_ends_like_ctrl_c_and_wall_time_checkpoints_keep_the_epoch(tmp_path):
    # Schedulers and `timeout` send SIGTERM. One long epoch with step checkpoints off: only
    # the wall-time checkpoint (every ~0.1 s here) saves the steps done before the kill.
    cfg = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'epochs': 1,
                                              'steps_per_epoch': 400,
                                              'checkpoint_every_steps': 0,
                                              'checkpoint_every_minutes': 0.002}})
    out = tmp_path / 'run'
    proc = subprocess.Popen([sys.executable, '-m', 'svde_training.cli', 'fit', '--config',
                             str(cfg), '--out', str(out)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = out / 'checkpoints' / 'last.pt'
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert 'interrupted; the last checkpoint is kept, continue with --resume' in stderr
    assert 'Traceback' not in stderr
    state = torch.load(checkpoint, weights_only=True)
    assert state['epoch'] == 0 and 0 < state['step_in_epoch'] < 400   # mid-epoch, by time


def test_resume_without_a_run_says_so_and_snapshots_are_kept(tmp_path, caplog):
    cfg = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'epochs': 2,
                                              'steps_per_epoch': 1, 'snapshot_epochs': [1]}})
    out = tmp_path / 'fresh'
    assert main(['fit', '--config', str(cfg), '--out', str(out), '--resume']) == 0
    assert f'--resume: {out} holds no run yet; starting a new one there' in caplog.text
    assert load_depth_net(out / 'checkpoints' / 'model_epoch_001.pt')[1].input_width == 128
    assert not (out / 'checkpoints' / 'model_epoch_002.pt').exists()


def test_slim_writes_a_deployable_model_with_scale_and_threshold(tmp_path, caplog):
    cfg = _write(tmp_path, {**TINY, 'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}})
    assert main(['fit', '--config', str(cfg), '--out', str(tmp_path / 'run')]) == 0
    out = tmp_path / 'model.pt'
    args = ['slim', '--checkpoint', str(tmp_path / 'run' / 'checkpoints' / 'last.pt'), '--out',
            str(out), '--metric-scale', 'odometry', '--spimo-threshold', '0.07']
    assert main(args) == 0
    net, spec = load_depth_net(out)
    assert spec.scale_source == 'odometry' and spec.depth_scale > 0
    assert spec.spimo is not None and spec.spimo.threshold == 0.07
    assert main(args) == 2 and 'exists; pass --force' in caplog.text
    assert main(['slim', '--checkpoint', str(out), '--out', str(tmp_path / 'b.pt'),
                 '--metric-scale', 'odometry']) == 2
    assert 'has no PoseNet' in caplog.text


def test_a_step_lowers_the_loss_of_its_batch(tmp_path):
    """One small update descends on the batch it was computed on (first order, any CPU).

    Whether a loss averaged over a few epochs of random samples falls rides on the
    floating-point details of those steps; the same batch before and after one step of
    1e-5 does not.
    """
    from svde_training.config import config_from_dict
    from svde_training.data.dataset import collate
    from svde_training.distributed import DistInfo
    from svde_training.trainer import Trainer

    # fp32: the step moves the loss by about 1e-4, below what bf16's rounding can blur.
    config = config_from_dict({**TINY, 'optim': {**TINY['optim'], 'lr': 1e-5,
                                                  'warmup_steps': 0, 'mixed_precision': False}})
    trainer = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    batch = collate([trainer.dataset[i] for i in range(2)])
    before, after = (trainer.train_step(batch)[0]['loss'] for _ in range(2))
    assert torch.isfinite(torch.tensor(before)) and after < before


@pytest.mark.parametrize('option', ['channels_last', 'compile'])
def test_layout_and_compile_options_train_like_the_plain_step(tmp_path, option):
    """channels_last weights and a compiled depth network give the plain step's losses.

    Two fp32 steps on the same batch from the same seed: the second step sees the first
    update, so this checks the backward pass as well. Checkpoints keep the plain keys.
    """
    from svde_training.config import config_from_dict
    from svde_training.data.dataset import collate
    from svde_training.distributed import DistInfo
    from svde_training.trainer import Trainer

    torch.set_num_threads(1)
    losses, keys = {}, {}
    for variant in ('plain', option):
        config = config_from_dict({**TINY, 'optim': {
            **TINY['optim'], 'mixed_precision': False, option: variant == option}})
        trainer = Trainer(config, tmp_path / variant, torch.device('cpu'), DistInfo())
        batch = collate([trainer.dataset[i] for i in range(2)])
        losses[variant] = [trainer.train_step(batch)[0]['loss'] for _ in range(2)]
        keys[variant] = sorted(trainer.state()['depth_net'])
        if option == 'channels_last' and variant == option:
            conv = next(m for m in trainer.depth_net.modules()
                        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
            assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert losses[option] == pytest.approx(losses['plain'], rel=1e-4)
    assert keys[option] == keys['plain']


@pytest.mark.parametrize('pose_source', ['posenet', 'poses', 'auto'])
def test_fit_names_known_motion_for_a_turning_camera(tmp_path, caplog, pose_source):
    """A walk with poses that turns ~3 deg between training frames: fit names the setting.

    The test frames are every 8th frame of the kitchen walk (5 cm and 3 deg apart, measured by
    experiments/walk_motion.py); with PoseNet chosen the log says in one line that the poses
    would be used by auto or poses, and when one of those is the setting it says nothing.
    """
    from svde_training.config import config_from_dict
    from svde_training.distributed import DistInfo
    from svde_training.trainer import Trainer

    kitchen = 'test/data/indoor_kitchen'
    config = config_from_dict({
        **TINY, 'pose_source': pose_source,
        'data': {'sources': [{'type': 'folder', 'path': f'{kitchen}/video',
                              'intrinsics': f'{kitchen}/camera.yaml',
                              'poses': f'{kitchen}/poses.txt'}],
                 'base_height': 64, 'base_width': 96, 'crop_height': 64, 'crop_width': 96}})
    with caplog.at_level('WARNING', logger='svde_training.trainer'):
        trainer = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    translation_m, rotation_deg = trainer.dataset.pair_motion()
    assert 0.03 < translation_m < 0.09 and 2.0 < rotation_deg < 5.0
    hints = [r.getMessage() for r in caplog.records if 'pose_source auto' in r.getMessage()]
    if pose_source == 'posenet':
        assert len(hints) == 1 and f'turns {rotation_deg:.1f} deg' in hints[0]
    else:
        assert hints == []


def test_per_source_gauge_scales_each_sources_translation(tmp_path):
    """pose_gauge per_source: one learnt log-scale per source, applied to that source's pairs
    only, trained with the networks and restored by a resume."""
    from svde_training.config import config_from_dict
    from svde_training.data.dataset import collate
    from svde_training.distributed import DistInfo
    from svde_training.trainer import Trainer

    synthetic = TINY['data']['sources'][0]
    config = config_from_dict({
        **TINY, 'pose_gauge': 'per_source',
        'data': {**TINY['data'], 'sources': [synthetic, {**synthetic, 'seed': 7}]},
        'optim': {**TINY['optim'], 'mixed_precision': False, 'warmup_steps': 0}})
    trainer = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    groups = trainer.item_group
    first = int((groups == 0).nonzero()[0])
    second = int((groups == 1).nonzero()[0])
    batch = collate([trainer.dataset[first], trainer.dataset[second]])
    plain = trainer.pose_net(batch.pose_images[:, 0], batch.pose_images[:, 2], batch.cam)
    with torch.no_grad():
        trainer.source_gauge.copy_(torch.tensor([0.0, 1.0]))
    T = trainer.pose(batch, 2, 1)          # frame_offsets (-1, 1): j = 2 is t+1, asked as is
    assert torch.allclose(T[0, :3, 3], plain[0, :3, 3], atol=1e-6)
    assert torch.allclose(T[1, :3, 3], torch.e * plain[1, :3, 3], atol=1e-6)
    assert torch.allclose(T[:, :3, :3], plain[:, :3, :3], atol=1e-6)
    trainer.train_step(batch)
    assert not torch.equal(trainer.source_gauge.detach(), torch.tensor([0.0, 1.0]))
    trainer.save()
    resumed = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    resumed.load(tmp_path / 'run' / 'checkpoints' / 'last.pt')
    assert torch.equal(resumed.source_gauge.detach(), trainer.source_gauge.detach())
