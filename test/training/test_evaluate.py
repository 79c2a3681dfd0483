"""`svde-train evaluate` and `ablate`: Garg crop, RGB-D ground truth, split metrics, seeds."""
import hashlib
import json

import cv2
import numpy as np
import pytest
import yaml

from svde_training.cli import main
from svde_training.data.clip import DataError
from svde_training.data.folder import RgbdClip
from svde_training.data.synthetic import SyntheticClip
from svde_training.evaluate import garg_mask
from svde_training.metrics import MaskScore

from .test_trainer import TINY, _write


def test_garg_crop_is_the_kitti_region():
    mask = garg_mask(375, 1242)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max() + 1) == (153, 371)
    assert (cols.min(), cols.max() + 1) == (44, 1197)


def test_mask_score_counts_pixels():
    gt = np.zeros((4, 4), bool)
    gt[:2] = True                       # 8 moving pixels
    pred = np.zeros((4, 4), bool)
    pred[1:3] = True                    # 4 right, 4 wrong
    score = MaskScore()
    score.add(pred, gt)
    assert score.scores() == {'iou': 4 / 12, 'precision': 0.5, 'recall': 0.5}
    with pytest.raises(ValueError, match='differ in size'):
        score.add(pred[:2], gt)


def _rgbd_folder(tmp_path, clip, frames=3, depth_size=None):
    colour, depth = tmp_path / 'rgb', tmp_path / 'depth'
    colour.mkdir()
    depth.mkdir()
    for i in range(frames):
        cv2.imwrite(str(colour / f'{i:04d}.png'), clip.image(i)[..., ::-1])
        d = np.round(clip.depth(i) * 1000).clip(0, 65535).astype(np.uint16)
        d[:3, :3] = 0
        d[3:5, :3] = 65535
        if depth_size:
            d = cv2.resize(d, depth_size, interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(depth / f'{i:04d}.png'), d)
    K = clip.intrinsics(0)
    (tmp_path / 'camera.yaml').write_text(
        f'{{fx: {K.fx}, fy: {K.fy}, cx: {K.cx}, cy: {K.cy}, width: {K.width}, '
        f'height: {K.height}}}')
    return colour, depth, tmp_path / 'camera.yaml'


def test_rgbd_folder_reads_millimetres_and_invalid_values(tmp_path):
    clip = SyntheticClip(0, 3, 64, 128)
    colour, depth, camera = _rgbd_folder(tmp_path, clip)
    rgbd = RgbdClip(colour, depth, camera, 1000.0)
    got, want = rgbd.depth(1), clip.depth(1)
    assert (got[:5, :3] == 0).all()
    inside = (want < 65.0)
    inside[:5, :3] = False
    assert np.abs(got[inside] - want[inside]).max() <= 0.0005 + 1e-6
    assert (got[want >= 65.535] == 0).all()           # 65535 and above: invalid


def test_rgbd_depth_of_another_size_is_named(tmp_path):
    clip = SyntheticClip(0, 3, 64, 128)
    colour, depth, camera = _rgbd_folder(tmp_path, clip, depth_size=(64, 32))
    with pytest.raises(DataError, match=r'depth[/\\]0000.png: depth is 64x32'):
        RgbdClip(colour, depth, camera).depth(0)


def test_evaluate_writes_report_with_split_and_mask_scores(tmp_path):
    config = _write(tmp_path, TINY)
    run = tmp_path / 'run'
    tiny = {**TINY, 'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 2}}
    assert main(['fit', '--config', str(_write(tmp_path, tiny, 'fit.yaml')), '--out',
                 str(run)]) == 0
    out = tmp_path / 'eval'
    assert main(['evaluate', '--checkpoint', str(run / 'checkpoints' / 'last.pt'),
                 '--config', str(config), '--out', str(out)]) == 0
    report = json.loads((out / 'metrics.json').read_text())
    assert report['frames'] == 3
    assert set(report['split']) == {'static', 'moving'}
    assert set(report['masks']) == {'spimo', 'auto-mask', 'none'}
    assert report['masks']['none']['recall'] == 0.0
    assert 0 < report['depth']['median-scaled']['abs_rel'] < 2
    assert '| moving pixels |' in (out / 'metrics.md').read_text()
    grid = cv2.imread(str(out / 'grid.png'))
    assert grid.shape == (3 * 64, 4 * 128, 3)


def test_evaluate_on_rgbd_folder(tmp_path):
    clip = SyntheticClip(5, 3, 64, 128)
    colour, depth, camera = _rgbd_folder(tmp_path, clip)
    run = tmp_path / 'run'
    tiny = {**TINY, 'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}}
    assert main(['fit', '--config', str(_write(tmp_path, tiny, 'fit.yaml')), '--out',
                 str(run)]) == 0
    eval_config = {**TINY, 'data': {**TINY['data'], 'eval_sources': [
        {'type': 'rgbd', 'path': str(colour), 'depth_path': str(depth),
         'intrinsics': str(camera), 'depth_scale': 1000.0}]}}
    out = tmp_path / 'eval'
    assert main(['evaluate', '--checkpoint', str(run / 'checkpoints' / 'last.pt'), '--config',
                 str(_write(tmp_path, eval_config, 'eval.yaml')), '--out', str(out)]) == 0
    report = json.loads((out / 'metrics.json').read_text())
    assert report['frames'] == 3 and 'split' not in report


def test_ablate_runs_variants_by_seed_resumes_and_tabulates(tmp_path):
    base = {**TINY, 'optim': {**TINY['optim'], 'epochs': 2, 'steps_per_epoch': 2}}
    config = _write(tmp_path, base)
    out = tmp_path / 'ablation'
    args = ['ablate', '--config', str(config), '--out', str(out), '--seeds', '0,1']
    assert main([*args, '--variants', 'base,fixed+oracle', '--jobs', '2']) == 0
    table = json.loads((out / 'ablation.json').read_text())
    assert set(table['runs']) == {'base s0', 'base s1', 'fixed+oracle s0', 'fixed+oracle s1'}
    # Each run is a normal fit folder with the variant's changes and its seed.
    run = yaml.safe_load((out / 'fixed+oracle-seed1' / 'config.yaml').read_text())
    assert run['model']['quantization'] == 'fixed' and run['optim']['seed'] == 1
    assert run['masking'] == {'mode': 'spimo', 'masks_dir': str((out / 'gt_masks').resolve()),
                              'with_auto': False}
    gt = cv2.imread(str(out / 'gt_masks' / 'synthetic-0' / '000003.png'), cv2.IMREAD_GRAYSCALE)
    expected = SyntheticClip(0, 8, 64, 128).moving_mask(3)
    assert gt.shape == expected.shape and ((gt > 127) == expected).all()
    base_runs = [table['runs'][f'base s{s}'] for s in (0, 1)]
    assert base_runs[0]['eval_abs_rel'] != base_runs[1]['eval_abs_rel']   # seeds differ
    assert all(r['images_per_s'] > 0 and r['collapsed'] in (0, 1) for r in base_runs)
    md = (out / 'ablation.md').read_text()
    assert '| base | 2 |' in md and '| fixed+oracle | 2 |' in md and 'constant depth' in md
    assert cv2.imread(str(out / 'ablation.png')) is not None
    # A second call trains nothing more: every run is finished and resumes as done.
    steps = (out / 'base-seed0' / 'metrics.csv').read_text()
    assert main([*args, '--variants', 'base']) == 0
    assert (out / 'base-seed0' / 'metrics.csv').read_text() == steps
    assert main([*args, '--variants', 'base', '--report-only']) == 0
    assert main([*args, '--variants', 'nonsense']) == 2
    assert main([*args, '--variants', 'lite0', '--report-only']) == 2
    # Stage 2 on SPIMO masks: made from the same seed's finished base run, with the variant's
    # SPIMO setting (here fixed + spimo, on top of the config's), beside the run that trains
    # on them.
    config.write_text(yaml.safe_dump({**base, 'spimo': {'threshold': 0.3, 'axes': 'v'}}))
    assert main([*args, '--variants', 'base,fixed+spimo']) == 2     # base config changed
    assert main([*args[:4], str(out / 'stage2'), '--seeds', '0,1', '--variants',
                 'base,fixed+spimo']) == 0
    out = out / 'stage2'
    run = yaml.safe_load((out / 'fixed+spimo-seed1' / 'config.yaml').read_text())
    masks = out / 'fixed+spimo-seed1.masks'
    assert run['masking'] == {'mode': 'spimo', 'masks_dir': str(masks.resolve()),
                              'with_auto': False}
    assert run['model']['quantization'] == 'fixed'
    manifest = json.loads((masks / 'manifest.json').read_text())
    assert manifest['spimo'] == run['spimo'] and run['spimo']['threshold'] == 0.3
    assert manifest['checkpoint_sha256'] == hashlib.sha256(
        (out / 'base-seed1' / 'checkpoints' / 'last.pt').read_bytes()).hexdigest()
    assert len(list((masks / 'synthetic-0').glob('*.png'))) == 8
    assert '| fixed+spimo | 2 |' in (out / 'ablation.md').read_text()
    # Without a finished base run of that seed there is nothing to make the masks from.
    assert main(['ablate', '--config', str(config), '--out', str(tmp_path / 'other'),
                 '--seeds', '0', '--variants', 'spimo']) == 2


def test_evaluate_never_overwrites_a_report_unasked(tmp_path):
    out = tmp_path / 'eval'
    out.mkdir()
    (out / 'metrics.json').write_text('{"mine": 1}')
    assert main(['evaluate', '--checkpoint', str(tmp_path / 'absent.pt'), '--out',
                 str(out)]) == 2
    assert (out / 'metrics.json').read_text() == '{"mine": 1}'
