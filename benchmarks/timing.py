"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int, *, warm_up: bool = True) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (after one untimed call when ``warm_up``)."""
    if warm_up:
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
