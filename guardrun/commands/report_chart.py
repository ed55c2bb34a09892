"""The memory chart's geometry, shared by the page (``report_html``) and the agent's
steps lane under it (``report_steps``): the SVG's size and margins, the time and bytes
axes, and tick spacing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

W, H = 1000, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 12, 28


def tick_step(span: float, count: int, steps: Sequence[float]) -> float:
    for step in steps:
        if span / step <= count:
            return step
    return steps[-1] * math.ceil(span / steps[-1] / count)


def nice(span: float) -> list[float]:
    base = 10 ** math.floor(math.log10(max(span, 1.0)))
    return [base * m for m in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10)]


class Chart:
    def __init__(self, t0: float, t1: float, ymax: float) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 1.0)
        self.ymax = max(ymax, 1.0)

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (W - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return TOP + (1 - min(v, self.ymax) / self.ymax) * (H - TOP - BOTTOM)

    def path(self, pts: Sequence[tuple[float, float]]) -> str:
        return " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in pts)
