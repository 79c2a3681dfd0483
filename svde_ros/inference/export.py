"""ONNX export of a checkpoint: static shapes, opset 17, pre/post-processing inside the graph.

The graph takes `image` [1,3,H,W] float RGB in [0,1] and `K` [1,3,3] (pixels at H x W) and returns
`depth` [1,1,H,W] (and `dispersion` with SPIMO). A JSON sidecar beside the model records what a
runtime must know: input size, normalisation, metric scale, disparity range, SPIMO settings and
the source checkpoint's sha256. It lives in the runtime because the node exports a model file
for onnxruntime on its first start (`cached_onnx`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svde_ros import __version__
from svde_ros.files import atomic_write_bytes, sha256_file
from svde_ros.inference.backend import BackendError
from svde_ros.model.checkpoint import load_depth_net, read_inference_spec
from svde_ros.model.depth_net import OUTPUT_STRIDE
from svde_ros.model.inference_model import DepthInference
from svde_ros.spimo import SpimoConfig

LOG = logging.getLogger(__name__)
OPSET = 17


class ExportError(ValueError):
    """The export cannot proceed as asked; the message says why."""


def depth_only_name(out: Path) -> Path:
    """Where the depth-only graph of a SPIMO export goes: beside it, `<stem>.depth.onnx`."""
    return out.with_name(f'{out.stem}.depth.onnx')


def export_onnx(checkpoint: Path, out: Path, height: int, width: int,
                spimo: bool | SpimoConfig = False, force: bool = False,
                checkpoint_sha256: str | None = None) -> dict[str, Any]:
    """Export a checkpoint, check and verify it; returns the sidecar written next to `out`.

    checkpoint_sha256: the checkpoint's digest when the caller has it already (hashing a
    large model file twice on a node's first start costs time for nothing).

    spimo: True adds the dispersion output with the checkpoint's own SPIMO settings (a
    SpimoConfig overrides them); the depth-only graph is then exported beside it, so a
    runtime skips the shifted passes on frames without a mask.

    Raises:
        ExportError: on a bad size or an existing output without `force`.
    """
    if height % OUTPUT_STRIDE or width % OUTPUT_STRIDE or height <= 0 or width <= 0:
        raise ExportError(f'--height/--width must be positive multiples of {OUTPUT_STRIDE}, got '
                          f'{width}x{height}')
    targets = [out, out.with_suffix('.json')] + ([depth_only_name(out)] if spimo else [])
    if not force and any(t.exists() for t in targets):
        raise ExportError(f'{out} exists; pass --force to replace it')
    net, spec = load_depth_net(checkpoint)
    settings = spec.spimo_config if spimo is True else (spimo or None)
    extra: dict[str, Any] = {}
    if settings is not None:
        depth_only = depth_only_name(out)
        export_model(DepthInference(net, spec, None).eval(), depth_only, height, width, {},
                     write_sidecar=False)
        extra['depth_only_model'] = depth_only.name
    model = DepthInference(net, spec, settings).eval()
    return export_model(model, out, height, width, {**extra,
        'trained_height': spec.input_height, 'trained_width': spec.input_width,
        'normalisation': 'RGB in [0,1]; the per-channel mean is subtracted inside the graph',
        'image_mean': list(spec.model.image_mean), 'disp_range': list(spec.model.disp_range),
        'num_levels': spec.model.num_levels, 'quantization': spec.model.quantization,
        'depth_scale': spec.depth_scale, 'scale_source': spec.scale_source,
        'spimo': None if settings is None else asdict(settings),
        'checkpoint': str(checkpoint),
        'checkpoint_sha256': checkpoint_sha256 or sha256_file(checkpoint)})


def export_model(model: torch.nn.Module, out: Path, height: int, width: int,
                 sidecar: dict[str, Any], write_sidecar: bool = True) -> dict[str, Any]:
    """Trace `model(image, K) -> (depth, ...)` to ONNX, check and verify it, write it.

    The sidecar written beside it (unless `write_sidecar` is false, as for the depth-only
    graph that the main model's sidecar names) holds the given fields plus the I/O description.
    """
    output_names = getattr(model, 'output_names', ['depth'])
    image = torch.rand(1, 3, height, width)
    f = 0.58 * width
    K = torch.tensor([[[f, 0.0, width / 2 - 0.5], [0.0, f, height / 2 - 0.5], [0.0, 0.0, 1.0]]])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f'.{out.name}.tmp')
    with warnings.catch_warnings():
        # Shapes are static by design (one engine per input size): the tracer's warnings
        # about sizes becoming constants describe exactly what we want.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(model, (image, K), str(tmp), input_names=['image', 'K'],
                          output_names=output_names, opset_version=OPSET, dynamo=False,
                          do_constant_folding=True)
    import onnx

    onnx.checker.check_model(str(tmp), full_check=True)
    max_rel = verify_with_onnxruntime(tmp, model, image, K)
    sidecar = {'format': 'svde_ros.onnx/1', 'svde_ros_version': __version__, 'opset': OPSET,
               'inputs': {'image': [1, 3, height, width], 'K': [1, 3, 3]},
               'outputs': output_names, 'input_height': height, 'input_width': width,
               'spimo': None, **sidecar, 'onnxruntime_max_rel_diff': max_rel}
    tmp.replace(out)
    if write_sidecar:
        atomic_write_bytes(out.with_suffix('.json'), json.dumps(sidecar, indent=2).encode())
    LOG.info('exported %s (%dx%d, outputs %s); onnxruntime vs torch max relative depth '
             'difference %.2e', out, width, height, ', '.join(output_names), max_rel)
    return sidecar


def verify_with_onnxruntime(path: Path, model: torch.nn.Module, image: torch.Tensor,
                            K: torch.Tensor) -> float:
    """Run the exported file in onnxruntime and return the max relative depth difference."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    declared = {i.name for i in session.get_inputs()}
    feed = {n: v.numpy() for n, v in (('image', image), ('K', K)) if n in declared}
    ort_depth = session.run(['depth'], feed)[0]
    with torch.no_grad():
        torch_depth = model(image, K)[0].numpy()
    return float(np.max(np.abs(ort_depth - torch_depth) / np.abs(torch_depth)))


def default_cache_dir() -> Path:
    """Where exported models and engines are cached: $XDG_CACHE_HOME/svde_ros (~/.cache)."""
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'svde_ros'


def writable_cache(path: Path) -> Path:
    """`path`, created if needed, once it is known to be writable.

    Raises:
        BackendError: one line naming the folder and the parameter that moves it.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BackendError(f'cache folder {path} cannot be created ({err.strerror}); set '
                           'engine_cache_dir to a writable folder') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BackendError(f'cache folder {path} is not writable; set engine_cache_dir to a '
                           'writable folder') from None
    return path


def cached_onnx(checkpoint: str | Path, cache_dir: Path, spimo: bool | SpimoConfig = False,
                input_size: tuple[int, int] | None = None) -> tuple[Path, bool]:
    """The checkpoint exported to ONNX in `cache_dir`, exported now if not there yet.

    Keyed as engines are, by everything the file depends on: the checkpoint's sha256, the
    input size (height, width; default as trained), the SPIMO settings, the opset and this
    package's version; an entry whose sidecar names another checkpoint is exported again.

    Returns:
        The ONNX path and whether it was exported by this call.
    """
    checkpoint = Path(checkpoint)
    spec = read_inference_spec(checkpoint)    # the network is built on export only
    height, width = input_size or (spec.input_height, spec.input_width)
    settings = spec.spimo_config if spimo is True else (spimo or None)
    digest = sha256_file(checkpoint)
    key = json.dumps({'checkpoint_sha256': digest, 'size': [height, width], 'opset': OPSET,
                      'spimo': None if settings is None else asdict(settings),
                      'svde_ros_version': __version__}, sort_keys=True)
    stem = f'{checkpoint.stem}-{width}x{height}-{hashlib.sha256(key.encode()).hexdigest()[:16]}'
    path = writable_cache(cache_dir) / f'{stem}.onnx'
    try:
        sidecar = json.loads(path.with_suffix('.json').read_text())
    except (OSError, json.JSONDecodeError):
        sidecar = {}
    if path.is_file() and sidecar.get('checkpoint_sha256') == digest:
        return path, False
    export_onnx(checkpoint, path, height, width, settings or False, force=True,
                checkpoint_sha256=digest)
    return path, True
