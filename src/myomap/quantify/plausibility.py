"""Plausibility checks of a slice's myocardial values: does the value level fit the declared map, is the ROI clean?

A "T1 map" whose myocardial median is 49 ms is a T2 map or wrongly
scaled; a myocardial ROI with a wide spread or a mean far from its median
holds pixels of another tissue (a contour leaking into blood or fat).
"""

from __future__ import annotations

import math

MYOCARDIUM_LEVEL_MS = {
    ("T1", "native"): (600.0, 2000.0),
    ("T1", "post"): (150.0, 900.0),
    ("T2", "native"): (25.0, 120.0),
    ("T2", "post"): (20.0, 120.0),
}
"""Myocardial medians a map of each type and contrast state can have, healthy to diseased, 1.5 T and 3 T (ms)."""
MAX_RELATIVE_IQR = 0.25
"""Largest myocardial IQR / median of a clean ROI (native myocardium spreads by about 5-10 % on a map)."""
MAX_MEAN_MEDIAN_GAP = 0.05
"""Largest |mean - median| / median of a clean ROI: blood or fat pixels skew the mean away from the median."""
MAX_MISSING_SHARE = 0.1
"""Largest share of the ROI's pixels without a usable value (failed fits: NaN, 0, or outside
:data:`~myomap.quantify.values.VALID_RANGE_MS`, as at the top of the stored range).  The values leave
them out, so the median rests on the others; a wall where the fit failed that often is seldom
measured well (motion, off-resonance).  The phantom's myocardium has none."""


def plausibility_reasons(map_type: str, contrast: str, stats: dict, *, cine: bool = False) -> tuple[str, ...]:
    """Why the myocardial statistics ``stats`` (``median_ms``, ``mean_ms``, ``iqr_ms``, ``n_pixels``, ``n_missing``) look wrong; empty when fine.

    ``cine=True`` (a cine's phase given ``--map-type``) leaves out the check of the median against the map
    type's range, as a cine's signal is not ms, and words the other reasons in its arbitrary units; the
    spread, skew and missing-pixel checks still apply (a caller measuring a cine counts as missing only
    pixels without a value).

    >>> plausibility_reasons("T1", "native", {"median_ms": 49.0, "mean_ms": 50.0, "iqr_ms": 4.0})[0]
    'myocardial median 49 ms does not fit a native T1 map (600-2000 ms): another map type or a scaling error'
    >>> plausibility_reasons("T1", "native", {"median_ms": 1000.0, "mean_ms": 1010.0, "iqr_ms": 60.0})
    ()
    >>> plausibility_reasons("T1", "native", {"median_ms": 1000.0, "mean_ms": 1010.0, "iqr_ms": 60.0, "n_pixels": 260, "n_missing": 40})
    ('13 % of the myocardial pixels hold no usable value (failed fits): the values rest on the other 260',)
    >>> plausibility_reasons("T1", "native", {"median_ms": 120.0, "mean_ms": 121.0, "iqr_ms": 40.0}, cine=True)
    ('wide myocardial IQR (40 signal units, 33 % of the median): the contour may include blood or fat',)
    """
    median, mean, iqr = (stats.get(k, math.nan) for k in ("median_ms", "mean_ms", "iqr_ms"))
    if not math.isfinite(median) or median <= 0:
        return ()
    reasons = []
    unit = "signal units" if cine else "ms"
    low, high = MYOCARDIUM_LEVEL_MS.get((map_type, contrast), (0.0, math.inf))
    if not cine and not low <= median <= high:
        reasons.append(
            f"myocardial median {median:.0f} ms does not fit a {contrast} {map_type} map ({low:.0f}-{high:.0f} ms): another map type or a scaling error"
        )
    if math.isfinite(iqr) and iqr > MAX_RELATIVE_IQR * median:
        reasons.append(
            f"wide myocardial IQR ({iqr:.0f} {unit}, {100 * iqr / median:.0f} % of the median): the contour may include blood or fat"
        )
    if math.isfinite(mean) and abs(mean - median) > MAX_MEAN_MEDIAN_GAP * median:
        reasons.append(f"myocardial mean {mean:.0f} {unit} far from the median {median:.0f} {unit}: the contour may include blood or fat")
    kept, missing = int(stats.get("n_pixels", 0)), int(stats.get("n_missing", 0))
    if missing > MAX_MISSING_SHARE * (kept + missing):
        reasons.append(
            f"{100 * missing / (kept + missing):.0f} % of the myocardial pixels hold no usable value ({'no signal' if cine else 'failed fits'}): the values rest on the other {kept}"
        )
    return tuple(reasons)
