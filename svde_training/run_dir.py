"""The run folder: config, metrics, previews and checkpoints, written atomically.

Layout: config.yaml (resolved), metrics.csv, previews/epoch_NNN.png, checkpoints/last.pt
(and epoch_NNN.pt). A folder holding another run is never overwritten without --force.
"""
from __future__ import annotations

import csv
import io
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from svde_ros.files import atomic_write_bytes

LOG = logging.getLogger(__name__)

CONFIG_NAME = 'config.yaml'
METRICS_NAME = 'metrics.csv'
LAST_CHECKPOINT = 'checkpoints/last.pt'
MODEL_FILE = 'checkpoints/model.pt'    # deployable: weights + inference spec only
TENSORBOARD_DIR = 'tensorboard'         # event files (tensorboard --logdir RUN)
NEIGHBOURS_NAME = 'neighbours.json'     # the neighbour spacing chosen by motion
RUN_CONTENTS = (CONFIG_NAME, METRICS_NAME, 'previews', 'checkpoints', 'eval', 'stage1', 'masks',
                'stage2', 'summary.json', 'bag_index', TENSORBOARD_DIR, NEIGHBOURS_NAME,
                'flow_poses.json')


class RunDirError(ValueError):
    """The output folder cannot be used as asked; the message says what to pass."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save, atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite the whole CSV from the run history (kept in the checkpoint)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f'{v:.6g}' if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_bytes(path, text.getvalue().encode())


# The one config key a resumed run may change: a larger optim.epochs extends it.
EXTENDABLE = 'optim.epochs'


def prepare(out: Path, config: dict[str, Any], resume: bool, force: bool,
            normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
            ) -> Path | None:
    """Check the output folder and return the checkpoint to resume from, if any.

    A resumed run may ask for more epochs than it was started with (it is then extended);
    any other change is refused. `normalize` brings a stored config up to date (keys added
    since with their defaults), so a run made before a new option existed still resumes; a
    stored config it cannot read is compared as it is.

    Raises:
        RunDirError: when the folder holds something this run would overwrite unasked.
    """
    config_path = out / CONFIG_NAME
    checkpoint = out / LAST_CHECKPOINT
    if out.exists() and not out.is_dir():
        raise RunDirError(f'{out} exists and is not a folder')
    if force:
        for name in RUN_CONTENTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif config_path.is_file():
        stored = yaml.safe_load(config_path.read_text())
        if not resume:
            raise RunDirError(f'{out} already holds a run; pass --resume to continue it or '
                              '--force to replace it')
        if normalize is not None:
            try:
                stored = normalize(stored or {})
            except ValueError:
                pass
        changed = sorted(_diff_keys(stored or {}, config))
        if changed == [EXTENDABLE] and config['optim']['epochs'] > stored['optim']['epochs']:
            # A longer budget continues the run as if it had been asked for from the start
            # (the schedule is a function of the epoch; the sampler is seeded per epoch).
            LOG.info('--resume: extending %s from %d to %d epochs', out,
                     stored['optim']['epochs'], config['optim']['epochs'])
            atomic_write_bytes(config_path, yaml.safe_dump(config, sort_keys=False).encode())
        elif changed:
            raise RunDirError(f'{out} holds a run with another config (differs at: '
                              f'{", ".join(changed)}); pass --force to replace it or choose '
                              'another --out')
        return checkpoint if checkpoint.is_file() else None
    elif out.is_dir() and any(out.iterdir()):
        raise RunDirError(f'{out} is not empty and holds no run; choose another --out or pass '
                          '--force (files other than a run\'s are left alone)')
    elif resume:
        LOG.warning('--resume: %s holds no run yet; starting a new one there', out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(config_path, yaml.safe_dump(config, sort_keys=False).encode())
    return None


def _diff_keys(a: Any, b: Any, prefix: str = '') -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return [k for key in keys for k in _diff_keys(a.get(key), b.get(key),
                                                      f'{prefix}.{key}' if prefix else key)]
    return [] if a == b else [prefix or '<root>']
