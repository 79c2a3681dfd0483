"""Where benchmarks find the full real clips: ../shared/data beside the repository.

The tests run from the reduced copies in test/data; benchmarks and the long training configs
need the full clips and stop with one line when they are missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'


def require(path: Path) -> Path:
    """`path`, or exit 2 with a line saying where the shared data must be."""
    if not path.exists():
        sys.exit(f'{path} not found: this benchmark reads the full clips in {SHARED_DATA} '
                 '(the shared data folder beside the repository)')
    return path


def read_rgb(path: Path) -> np.ndarray:
    """The image at `path` as HxWx3 uint8 RGB, or exit 2 with a line saying why."""
    image = cv2.imread(str(require(path)))
    if image is None:
        sys.exit(f'{path}: not a readable image')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
