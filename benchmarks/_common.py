"""Helpers shared by the benchmark scripts: repeated timing and the closing JSON line."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, ratio: float, goal: float, baseline: str, **extra: Any) -> None:
    """Print the closing JSON line every benchmark ends with (higher ratio is better for unibind)."""
    print(json.dumps({"benchmark": name, "ratio": round(ratio, 3), "goal": goal, "baseline": baseline, **extra}))
