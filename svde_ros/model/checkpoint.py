"""Checkpoint format: written by training, read by export and the torch backend.

A checkpoint carries what inference needs next to the weights, so no consumer re-derives it:
the model config, the input size the network was trained for, and the metric scale.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from svde_ros.model.config import ModelConfig
from svde_ros.model.depth_net import DepthNet
from svde_ros.spimo import SpimoConfig

CHECKPOINT_FORMAT = 'svde_ros.checkpoint/1'
ZIP_MAGIC = b'PK\x03\x04'    # torch.save writes a zip archive


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the network; names the file."""


@dataclass(frozen=True)
class InferenceSpec:
    """How to feed and read a trained DepthNet.

    input_height/width: full-frame size the network was trained at (base size);
    depth_scale: metres per unit of the network's depth gauge (1.0 when unknown);
    scale_source: 'none' (median-scaled only), 'odometry', 'camera_height' or 'poses'
        (trained with known motion, metric by construction);
    spimo: the SPIMO settings (delta, pass scale, threshold) the model was trained and
    validated with, which export and the node use unless told otherwise (None in checkpoints
    older than this field: the defaults apply).
    """

    model: ModelConfig
    input_height: int
    input_width: int
    depth_scale: float = 1.0
    scale_source: str = 'none'
    spimo: SpimoConfig | None = None

    @property
    def spimo_config(self) -> SpimoConfig:
        """The model's SPIMO settings, or the defaults for a checkpoint without them."""
        return self.spimo or SpimoConfig()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints and sidecars."""
        return {'model': self.model.to_dict(), 'input_height': self.input_height,
                'input_width': self.input_width, 'depth_scale': self.depth_scale,
                'scale_source': self.scale_source,
                'spimo': None if self.spimo is None else asdict(self.spimo)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InferenceSpec:
        """Inverse of `to_dict`."""
        data = dict(data)
        data['model'] = ModelConfig.from_dict(data['model'])
        if data.get('spimo') is not None:
            data['spimo'] = SpimoConfig(**data['spimo'])
        return cls(**data)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dictionary on the CPU, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path} (train one with '
                              '`svde-train fit --config FILE --out DIR`)')
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic != ZIP_MAGIC:
        raise CheckpointError(f'{path} is not a checkpoint: checkpoints are torch zip archives '
                              'written by `svde-train fit` or `svde-train slim`')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises many types for truncated/corrupt files
        raise CheckpointError(f'cannot read checkpoint {path} (truncated or damaged?): '
                              f'{type(err).__name__}: {str(err)[:200]}') from None
    if not isinstance(data, dict) or data.get('format') != CHECKPOINT_FORMAT:
        raise CheckpointError(f'{path} is not an svde_ros checkpoint '
                              f'(expected format {CHECKPOINT_FORMAT!r})')
    return data


def read_inference_spec(path: str | Path) -> InferenceSpec:
    """A checkpoint's inference spec alone (sizes, levels, SPIMO), without building the net."""
    try:
        return InferenceSpec.from_dict(read_checkpoint(path)['inference'])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f'{path}: no inference spec ({err})') from None


def load_depth_net(path: str | Path,
                   device: torch.device | str = 'cpu') -> tuple[DepthNet, InferenceSpec]:
    """Rebuild the trained DepthNet (eval mode) and its inference spec from a checkpoint."""
    return depth_net_from_state(read_checkpoint(path), path, device)


def depth_net_from_state(data: dict[str, Any], path: str | Path,
                         device: torch.device | str = 'cpu',
                         ) -> tuple[DepthNet, InferenceSpec]:
    """`load_depth_net` for a checkpoint already read (`path` names it in errors)."""
    try:
        spec = InferenceSpec.from_dict(data['inference'])
        net = DepthNet(spec.model)
        net.load_state_dict(data['depth_net'])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f'{path}: weights do not fit the network it describes: '
                              f'{str(err)[:300]}') from None
    return net.to(device).eval(), spec


def slim_checkpoint(state: dict[str, Any], fp16: bool = True) -> dict[str, Any]:
    """What deployment needs of a training checkpoint.

    The DepthNet weights (fp16 by default: half the size; loading casts them back), the
    inference spec, the training config and the metric history; no optimizer or PoseNet.
    """
    weights = {k: v.half() if fp16 and v.is_floating_point() else v
               for k, v in state['depth_net'].items()}
    return {'format': CHECKPOINT_FORMAT, 'inference': state['inference'],
            'config': state.get('config'), 'depth_net': weights,
            'global_step': state.get('global_step'), 'history': state.get('history', [])}
