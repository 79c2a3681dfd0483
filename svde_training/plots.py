"""Small line plots drawn with OpenCV (no plotting library is a dependency)."""
from __future__ import annotations

import math

import cv2
import numpy as np

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75)]


def line_plot(series: dict[str, list[tuple[float, float]]], title: str, x_label: str,
              y_label: str, log_x: bool = False, y_range: tuple[float, float] | None = None,
              size: tuple[int, int] = (640, 400),
              color_index: dict[str, int] | None = None,
              thin: frozenset[str] = frozenset()) -> np.ndarray:
    """An RGB uint8 image of one line per series (points marked), with axes and a legend.

    color_index gives series their colour (by default each its own), so related series (the
    seeds of one variant) can share one; series named in `thin` are drawn with a thin line.
    """
    width, height = size
    left, right, top, bottom = 64, 16, 36, 48
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x0, x1 = fx(min(xs)), fx(max(xs))
    y0, y1 = y_range or (min(0.0, min(ys)), max(ys) * 1.1 or 1.0)
    x1 = x1 if x1 > x0 else x0 + 1
    img = np.full((height, width, 3), 255, np.uint8)

    def at(x: float, y: float) -> tuple[int, int]:
        u = left + (fx(x) - x0) / (x1 - x0) * (width - left - right)
        v = height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
        return int(round(u)), int(round(v))

    font, grey = cv2.FONT_HERSHEY_SIMPLEX, (90, 90, 90)
    cv2.rectangle(img, (left, top), (width - right, height - bottom), grey, 1)
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        _, v = at(min(xs), y)
        cv2.line(img, (left - 4, v), (left, v), grey, 1)
        cv2.putText(img, f'{y:.2f}', (4, v + 4), font, 0.4, grey, 1, cv2.LINE_AA)
    last_label = -10 ** 6
    for x in sorted(set(xs)):
        u, _ = at(x, y0)
        cv2.line(img, (u, height - bottom), (u, height - bottom + 4), grey, 1)
        if u - last_label >= 44:                  # labels that would overlap are left out
            cv2.putText(img, f'{x:g}', (u - 14, height - bottom + 18), font, 0.4, grey, 1,
                        cv2.LINE_AA)
            last_label = u
    cv2.putText(img, title, (left, 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, x_label, (width // 2 - 40, height - 10), font, 0.45, grey, 1, cv2.LINE_AA)
    cv2.putText(img, y_label, (4, top - 6), font, 0.4, grey, 1, cv2.LINE_AA)
    for k, (name, pts) in enumerate(series.items()):
        color = COLORS[(color_index or {}).get(name, k) % len(COLORS)]
        points = [at(x, y) for x, y in sorted(pts)]
        for a, b in zip(points, points[1:]):
            cv2.line(img, a, b, color, 1 if name in thin else 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 3, color, -1, cv2.LINE_AA)
        cv2.putText(img, name, (left + 8, top + 16 + 16 * k), font, 0.42, color, 1,
                    cv2.LINE_AA)
    return img
