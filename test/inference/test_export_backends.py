"""Export -> onnxruntime parity on real frames, SPIMO parity, engine cache, backend selection."""
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from svde_ros.inference.backend import BackendError
from svde_ros.inference.engine_cache import EngineKey, load_engine, store_engine
from svde_ros.inference.export import ExportError, export_onnx
from svde_ros.inference.factory import (
    create_backend,
    gpu_present,
    pick_backend,
    tensorrt_present,
)
from svde_ros.inference.onnx_backend import OnnxBackend
from svde_ros.inference.torch_backend import TorchBackend
from svde_ros.model.checkpoint import load_depth_net
from svde_ros.model.inference_model import DepthInference
from svde_ros.spimo import SpimoConfig, spimo_dispersion
from svde_training.cli import main
from svde_training.data.kitti import KittiRawClip

from ..training.test_trainer import TINY

SPIMO = SpimoConfig(delta=0.1, scale=0.5, threshold=0.02)


@pytest.fixture(scope='module', params=[(1, 'paper'), (2, 'paper'), (2, 'efficientnet_lite0')],
                ids=['head-stride-1', 'head-stride-2', 'lite0'])
def checkpoint(request, tmp_path_factory) -> Path:
    """A real checkpoint written by `svde-train fit` (a few steps on synthetic clips).

    Both level heads: the paper's full-resolution one and the 1/2-resolution one the shipped
    models use (its disparity is upsampled in log space inside the exported graph); and the
    ImageNet-pretrained encoder, which must export and run like the paper's trunk.
    """
    tmp = tmp_path_factory.mktemp('ckpt')
    config = tmp / 'c.yaml'
    stride, encoder = request.param
    config.write_text(yaml.safe_dump({**TINY, 'model': {**TINY['model'], 'encoder': encoder,
                                                        'head_stride': stride},
                                      'optim': {**TINY['optim'], 'epochs': 1,
                                                'steps_per_epoch': 2}}))
    assert main(['fit', '--config', str(config), '--out', str(tmp / 'run')]) == 0
    return tmp / 'run' / 'checkpoints' / 'last.pt'


@pytest.fixture(scope='module')
def exported(checkpoint, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('onnx') / 'model.onnx'
    export_onnx(checkpoint, out, 96, 320, SPIMO)
    return out


def _frames(kitti_raw_drive):
    clip = KittiRawClip(kitti_raw_drive)
    return [(clip.image(i), clip.intrinsics(i)) for i in (0, 3, 6)]


def test_sidecar_records_what_a_runtime_needs(exported, checkpoint):
    meta = json.loads(exported.with_suffix('.json').read_text())
    assert (meta['input_height'], meta['input_width']) == (96, 320)
    assert meta['outputs'] == ['depth', 'dispersion']
    assert meta['spimo'] == {'delta': 0.1, 'scale': 0.5, 'threshold': 0.02, 'axes': 'uv'}
    # The training clips (synthetic) have poses, so fit calibrated a metric scale.
    assert meta['opset'] == 17 and meta['scale_source'] == 'odometry'
    assert meta['depth_scale'] == load_depth_net(checkpoint)[1].depth_scale > 0
    assert len(meta['checkpoint_sha256']) == 64
    assert meta['onnxruntime_max_rel_diff'] < 1e-3
    import onnx
    model = onnx.load(str(exported))
    assert [i.name for i in model.graph.input] == ['image', 'K']


def test_onnxruntime_matches_torch_on_real_frames(exported, checkpoint, kitti_raw_drive):
    net, spec = load_depth_net(checkpoint)
    torch_backend = TorchBackend(DepthInference(net, spec, SPIMO), 96, 320, spimo=SPIMO)
    ort_backend = OnnxBackend(str(exported), threads=1)
    for image, K in _frames(kitti_raw_drive):
        a, b = torch_backend.infer(image, K), ort_backend.infer(image, K)
        assert a.depth.shape == (96, 320) and np.isfinite(a.depth).all() and (a.depth > 0).all()
        assert np.max(np.abs(a.depth - b.depth) / a.depth) < 1e-3
        assert np.allclose(a.dispersion, b.dispersion, rtol=1e-3, atol=1e-5)
        assert a.intrinsics == b.intrinsics == K.resized(320, 96)


def test_exported_dispersion_equals_the_shared_spimo_function(exported, checkpoint,
                                                              kitti_raw_drive):
    net, _ = load_depth_net(checkpoint)
    image, K = _frames(kitti_raw_drive)[1]
    result = OnnxBackend(str(exported), threads=1).infer(image, K)
    from svde_ros.preprocess import resize_frame
    resized, K_small = resize_frame(image, K, 320, 96)
    with torch.no_grad():
        reference = spimo_dispersion(net, torch.from_numpy(resized).permute(2, 0, 1)[None] / 255,
                                     torch.tensor([K_small.camera_channels()]), SPIMO)
    assert np.allclose(result.dispersion, reference[0, 0].numpy(), rtol=1e-3, atol=1e-5)
    assert result.dispersion.min() >= 0


def test_export_bad_input(checkpoint, tmp_path):
    with pytest.raises(ExportError, match='multiples of 32'):
        export_onnx(checkpoint, tmp_path / 'a.onnx', 100, 320)
    (tmp_path / 'b.onnx').write_bytes(b'mine')
    with pytest.raises(ExportError, match='exists; pass --force'):
        export_onnx(checkpoint, tmp_path / 'b.onnx', 96, 320)
    assert (tmp_path / 'b.onnx').read_bytes() == b'mine'


def test_backend_bad_input(exported, tmp_path):
    with pytest.raises(BackendError, match='ONNX model not found'):
        OnnxBackend(str(tmp_path / 'absent.onnx'))
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(exported.read_bytes()[:1000])
    corrupt.with_suffix('.json').write_text(exported.with_suffix('.json').read_text())
    with pytest.raises(BackendError, match='cannot load ONNX model'):
        OnnxBackend(str(corrupt))
    lonely = tmp_path / 'lonely.onnx'
    lonely.write_bytes(exported.read_bytes())
    with pytest.raises(BackendError, match='lonely.json missing'):
        OnnxBackend(str(lonely))
    backend = OnnxBackend(str(exported), threads=1)
    from svde_ros.geometry import Intrinsics
    with pytest.raises(ValueError, match='does not match its intrinsics'):
        backend.infer(np.zeros((100, 200, 3), np.uint8), Intrinsics(100, 100, 99, 49, 300, 100))
    with pytest.raises(ValueError, match='uint8 RGB'):
        backend.infer(np.zeros((100, 200), np.uint8), Intrinsics(100, 100, 99, 49, 200, 100))


@pytest.mark.parametrize('cuda, tensorrt, files, expected', [
    (False, False, ('ckpt', 'onnx'), 'onnxruntime'),
    (False, False, ('ckpt',), 'onnxruntime'),             # exported once into the cache
    (False, True, ('ckpt', 'onnx'), 'onnxruntime'),      # TensorRT without a GPU is no use
    (True, False, ('ckpt', 'onnx'), 'torch'),
    (True, True, ('ckpt', 'onnx'), 'tensorrt'),
    (True, True, ('ckpt',), 'torch'),                     # TensorRT needs the exported model
    (True, False, ('onnx',), 'onnxruntime'),
])
def test_auto_picks_by_what_the_machine_has(cuda, tensorrt, files, expected):
    kind, why = pick_backend('c.pt' if 'ckpt' in files else '',
                             'm.onnx' if 'onnx' in files else '', cuda, tensorrt)
    assert kind == expected and why.startswith('auto: ')


def test_auto_selection_on_this_machine(exported, checkpoint):
    backend, why = create_backend('auto', checkpoint=str(checkpoint), onnx=str(exported))
    expected = pick_backend(str(checkpoint), str(exported), gpu_present(), tensorrt_present())
    assert backend.name.startswith(expected[0]) and why.endswith(f'({expected[1]})')
    backend, why = create_backend('torch', checkpoint=str(checkpoint), spimo=SPIMO)
    assert backend.name.startswith('torch') and backend.spimo == SPIMO
    with pytest.raises(BackendError, match='unknown backend'):
        create_backend('openvino', onnx=str(exported))


@pytest.mark.skipif(tensorrt_present(), reason='TensorRT is installed on this machine')
def test_missing_tensorrt_says_how_to_install_it(exported):
    with pytest.raises(BackendError, match='TensorRT is not installed.*pip install tensorrt'):
        create_backend('tensorrt', onnx=str(exported))


def test_auto_without_gpu_exports_the_checkpoint_once_and_reuses_it(checkpoint, tmp_path):
    if gpu_present():
        pytest.skip('a CUDA GPU is present: auto picks torch or TensorRT there')
    cache = tmp_path / 'cache'
    backend, why = create_backend('auto', checkpoint=str(checkpoint), spimo=True,
                                  cache_dir=str(cache), threads=1)
    assert backend.name.startswith('onnxruntime') and 'exported the checkpoint once' in why
    files = sorted(p.name for p in cache.iterdir())
    assert len([f for f in files if f.endswith('.onnx')]) == 2   # + the depth-only graph
    frame = np.random.default_rng(0).integers(0, 255, (96, 320, 3), np.uint8)
    from svde_ros.geometry import Intrinsics
    K = Intrinsics(180, 180, 160, 48, 320, 96)
    first = backend.infer(frame, K, with_mask=True)
    again, why = create_backend('auto', checkpoint=str(checkpoint), spimo=True,
                                cache_dir=str(cache), threads=1)
    assert 'cached export' in why and sorted(p.name for p in cache.iterdir()) == files
    second = again.infer(frame, K, with_mask=True)
    assert np.array_equal(first.depth, second.depth)
    torch_depth = create_backend('torch', checkpoint=str(checkpoint))[0].infer(frame, K).depth
    assert np.allclose(first.depth, torch_depth, rtol=1e-3)


def test_spimo_settings_travel_with_the_model(checkpoint, tmp_path):
    spec = load_depth_net(checkpoint)[1]
    assert spec.spimo is not None             # written by training, from its spimo section
    out = tmp_path / 'own.onnx'
    meta = export_onnx(checkpoint, out, 96, 320, spimo=True)
    assert meta['spimo'] == {'delta': spec.spimo.delta, 'scale': spec.spimo.scale,
                             'threshold': spec.spimo.threshold, 'axes': spec.spimo.axes}
    assert OnnxBackend(str(out), threads=1).spimo == spec.spimo
    backend, _ = create_backend('torch', checkpoint=str(checkpoint), spimo=True)
    assert backend.spimo == spec.spimo


@pytest.mark.parametrize('kind', ['torch', 'onnxruntime'])
def test_depth_only_frames_skip_the_spimo_passes(kind, exported, checkpoint, kitti_raw_drive):
    meta = json.loads(exported.with_suffix('.json').read_text())
    assert (exported.parent / meta['depth_only_model']).is_file()
    backend, _ = create_backend(kind, checkpoint=str(checkpoint), onnx=str(exported),
                                spimo=True)
    image, K = _frames(kitti_raw_drive)[0]
    full, depth_only = backend.infer(image, K), backend.infer(image, K, with_mask=False)
    assert full.dispersion is not None and depth_only.dispersion is None
    assert np.allclose(full.depth, depth_only.depth, rtol=1e-5)


def test_unsupported_precision_is_refused(exported):
    from svde_ros.inference.tensorrt_backend import build_serialized_engine
    with pytest.raises(BackendError, match="unsupported precision 'int3'"):
        build_serialized_engine(exported, 'int3')


KEY = EngineKey('10.13.0', 'NVIDIA H100', '9.0', 'fp16', (1, 3, 96, 320), 'ab' * 32)


@pytest.mark.parametrize('field, value', [
    ('tensorrt_version', '11.0.0'), ('gpu_name', 'NVIDIA Jetson Orin'),
    ('compute_capability', '8.7'), ('precision', 'fp32'), ('input_shape', (1, 3, 192, 640)),
    ('onnx_sha256', 'cd' * 32)])
def test_cache_key_changes_with_each_part(field, value):
    assert replace(KEY, **{field: value}).digest() != KEY.digest()


def test_cache_round_trip_and_stale_entries(tmp_path, caplog):
    onnx = tmp_path / 'model.onnx'
    engine = bytes(range(256)) * 100
    path = store_engine(tmp_path / 'engines', onnx, KEY, engine, 12.0)
    assert load_engine(tmp_path / 'engines', onnx, KEY) == engine
    assert load_engine(tmp_path / 'engines', onnx, replace(KEY, precision='fp32')) is None
    path.write_bytes(engine[:1000])                        # truncated on disk
    with caplog.at_level(logging.WARNING):
        assert load_engine(tmp_path / 'engines', onnx, KEY) is None
    assert 'truncated or corrupt' in caplog.text
    path.with_suffix('.json').write_text('{not json')
    assert load_engine(tmp_path / 'engines', onnx, KEY) is None


@pytest.mark.skipif(not gpu_present(), reason='needs a CUDA GPU (none on this machine)')
def test_torch_cuda_matches_cpu_on_real_frames(checkpoint, kitti_raw_drive):
    cpu, _ = create_backend('torch', checkpoint=str(checkpoint))
    cuda = TorchBackend.from_checkpoint(str(checkpoint), 'cuda', fp16=False)
    for image, K in _frames(kitti_raw_drive):
        a, b = cpu.infer(image, K), cuda.infer(image, K)
        assert np.max(np.abs(a.depth - b.depth) / a.depth) < 1e-3


@pytest.mark.skipif(not (gpu_present() and tensorrt_present()),
                    reason='needs a CUDA GPU and TensorRT (neither on this machine)')
def test_tensorrt_matches_onnxruntime_and_skips_spimo_when_asked(exported, kitti_raw_drive,
                                                                  tmp_path):
    from svde_ros.inference.tensorrt_backend import TensorRTBackend
    engine = TensorRTBackend(str(exported), 'fp32', str(tmp_path / 'engines'))
    reference = OnnxBackend(str(exported), threads=1)
    image, K = _frames(kitti_raw_drive)[0]
    a, b = reference.infer(image, K), engine.infer(image, K)
    assert np.max(np.abs(a.depth - b.depth) / a.depth) < 1e-2
    assert np.allclose(a.dispersion, b.dispersion, rtol=1e-2, atol=1e-4)
    assert engine.infer(image, K, with_mask=False).dispersion is None
