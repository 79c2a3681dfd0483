"""QoS profiles of the depth node (defaults follow image_pipeline; all overridable)."""
from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
               'reliable': ReliabilityPolicy.RELIABLE}


def profile(reliability: str, depth: int) -> QoSProfile:
    """Keep-last profile.

    Inputs default to best effort (like the sensor-data profile), which matches every camera
    driver; outputs default to reliable, because a best-effort publisher delivers nothing to a
    reliable subscriber such as a default RViz display, while a reliable one serves both.
    """
    if reliability not in RELIABILITY:
        raise ValueError(f'reliability must be one of {", ".join(RELIABILITY)}, got '
                         f'{reliability!r}')
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(1, depth),
                      reliability=RELIABILITY[reliability])
