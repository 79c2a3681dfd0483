"""Files that ship with the package: the default model and the demo bag.

In a source checkout (or `pip install -e .`) they sit in the repository; after `colcon build`
they are installed under share/svde_ros, found through the ament index.
"""
from __future__ import annotations

from pathlib import Path

MODEL_NAME = 'models/kitti_odometry_320x96.pt'
DEMO_BAG_NAME = 'data/demo/kitti_odometry_demo'
# 40 highway frames with moving cars (scripts/make_highway_demo_bag.py), for the mask.
HIGHWAY_BAG_NAME = 'data/demo/udacity_highway_demo'


def package_share() -> Path:
    """The folder holding models/ and data/ (checkout root, or share/svde_ros)."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / MODEL_NAME).is_file():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory('svde_ros'))
    except (ImportError, LookupError, ValueError):
        return checkout


def default_model() -> Path:
    """The bundled demo model (see docs/MODEL_CARD.md)."""
    return package_share() / MODEL_NAME


def demo_bag() -> Path:
    """The bundled sample bag (20 real KITTI frames)."""
    return package_share() / DEMO_BAG_NAME


def highway_bag() -> Path:
    """The bundled sample bag with moving cars (40 Udacity highway frames)."""
    return package_share() / HIGHWAY_BAG_NAME
