"""Self-contained HTML reports: one page per patient and one page per run.

The pages have inline CSS, every image embedded as a ``data:`` URI, no
JavaScript and no external resources, so a report can be mailed or archived
as one file.  They show only what they are given: the caller decides what
identifies a patient (an anonymous label unless the user asked otherwise).
All text is HTML-escaped.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from myomap import __version__
from myomap.io.files import atomic_write_text
from myomap.report.bullseye import bullseye_svg


@dataclass(frozen=True)
class SliceEntry:
    """One analysed slice as the report shows it.

    ``values`` maps names ending in their unit (``"global_median_ms"``) to
    numbers; ``reasons`` says why ``review`` is set (empty when it is not);
    ``confidence`` is 0-1, higher is more confident.  ``error`` is set when
    the slice could not be analysed; ``overlay_png`` may then be ``b""``.
    """

    name: str
    map_type: str
    slice_position: str
    overlay_png: bytes
    review: bool
    reasons: tuple[str, ...]
    confidence: float
    values: dict[str, float]
    error: str | None = None

    @property
    def needs_review(self) -> bool:
        """Flagged by QC or not analysed at all."""
        return self.review or self.error is not None


@dataclass(frozen=True)
class PatientEntry:
    """One patient's results.

    ``segments`` maps a stack (``T1``, ``T1-post``, ``T2``, ``ECV``) to AHA
    segment -> value in ms (percent for ECV); ``flags`` the same keys to
    segment -> ``high``/``low`` against the normal range.  ``warning`` is
    shown at the top of the page (e.g. an unvalidated model), ``notes``
    below it as a list of plain text (escaped, so a note cannot add markup).  ``summary``
    rows become the value table, columns in first-seen key order; the run
    summary reads the rows with ``region == "global"`` (preferring
    ``eroded`` true) and takes their ``median_ms``.  ``label`` is shown as
    given: an anonymous label unless the user asked for the PatientID.
    """

    label: str
    slices: tuple[SliceEntry, ...]
    segments: dict[str, dict[int, float]]
    summary: tuple[dict, ...]
    notes: tuple[str, ...] = ()
    flags: dict[str, dict[int, str]] = field(default_factory=dict)
    warning: str = ""

    def global_median_ms(self, map_type: str) -> float:
        """Global median of ``map_type`` from the summary rows; NaN when there is none."""
        rows = [r for r in self.summary if r.get("map_type") == map_type and r.get("region") == "global"]
        rows.sort(key=lambda r: not r.get("eroded", False))
        return float(rows[0].get("median_ms", math.nan)) if rows else math.nan


_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1140px; padding: 0 16px; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; margin-bottom: 12px; }
.qc { padding: 8px 12px; border-radius: 4px; font-weight: bold; }
.qc.bad { background: #fde8e8; color: #a61b1b; border: 1px solid #f3b4b4; } .qc.good { background: #e6f4ea; color: #1e6b34; border: 1px solid #b7dfc2; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: bold; color: #fff; }
.badge.review { background: #c62828; } .badge.ok { background: #2e7d32; }
.bullseyes { display: flex; flex-wrap: wrap; gap: 16px; } .bullseyes img { width: calc(50% - 8px); min-width: 320px; max-width: 552px; }
table { border-collapse: collapse; margin: 4px 0; } th, td { padding: 3px 10px; text-align: left; border-bottom: 1px solid #eee; }
th { background: #f5f5f5; font-weight: 600; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px; break-inside: avoid; } .card.flagged { border-color: #e57373; }
.card h3 { font-size: 15px; margin: 0 0 6px; display: flex; justify-content: space-between; align-items: center; }
.card img { width: 100%; image-rendering: pixelated; background: #000; }
.reasons { color: #a61b1b; margin: 4px 0; padding-left: 18px; } .error { color: #a61b1b; font-weight: bold; }
.errors li { color: #a61b1b; font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid #ddd; color: #666; font-size: 12px; }
"""

_MAP_ORDER = ("T1", "T1-post", "T2", "ECV")
_RUN_COLUMNS = ("T1", "T1-post", "T2")  # global medians in ms on the run summary
_WARNING_HTML = '<p class="qc bad">{}</p>'
_ACRONYMS = {"iqr": "IQR", "sd": "SD", "roi": "ROI", "aha": "AHA", "ecv": "ECV"}
_DECIMALS = {"hematocrit": 2}  # a fraction: 0.441 is 0.44, not 0.4


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _fmt(value: object, decimals: int = 1) -> str:
    """Numbers with ``decimals`` decimals (integers as they are, NaN as "–"), booleans as yes / no, text escaped.

    >>> _fmt(0.441), _fmt(0.441, 2), _fmt(math.nan), _fmt("<b>")
    ('0.4', '0.44', '–', '&lt;b&gt;')
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return f"{float(value):.{decimals}f}" if math.isfinite(value) else "–"
    return "–" if value is None else _e(value)


def _heading(key: str) -> str:
    """``"median_ms"`` -> ``"median (ms)"``."""
    name, _, unit = key.rpartition("_")
    if not (name and unit in {"ms", "mm", "deg", "mm2", "pct"}):
        name, unit = key, ""
    words = " ".join(_ACRONYMS.get(w, w) for w in name.split("_"))
    return _e(f"{words} ({unit})" if unit else words)


def _img(data: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}" alt="{_e(alt)}">'


def _cell(value: object, decimals: int = 1) -> str:
    return f'<td class="num">{_fmt(value, decimals)}</td>' if _is_number(value) else f"<td>{_fmt(value)}</td>"


def _table(rows: Sequence[dict]) -> str:
    """Rows as a table, columns in first-seen key order; numbers with one decimal, or as :data:`_DECIMALS` says for the column."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{_heading(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c), _DECIMALS.get(c, 1)) for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(created: datetime | None, prefix: str) -> str:
    """``prefix`` and the date, or nothing when no date is given (reports that must be byte-identical across reruns)."""
    return f"{prefix}{created:%Y-%m-%d %H:%M}" if created is not None else ""


def _page(title: str, body: str, created: datetime | None) -> str:
    footer = (
        f"Generated by myomap {_e(__version__)}{_when(created, ' on ')}. "
        "Values come from an automatic segmentation; slices flagged for review must be checked by a human before the values are used."
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n'
        f"<body>\n{body}\n<footer>{footer}</footer>\n</body>\n</html>\n"
    )


def _write(path: Path | str, title: str, body: list[str], created: datetime | None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, _page(title, "\n".join(body), created))
    return path


def _badge(review: bool, text: str = "review") -> str:
    return f'<span class="badge review">{text}</span>' if review else '<span class="badge ok">ok</span>'


def _slice_card(entry: SliceEntry) -> str:
    badge = "review" if entry.error is None else "not analysed"
    meta = [entry.map_type, entry.slice_position]
    if entry.error is None and math.isfinite(entry.confidence):  # NaN without test-time augmentation: nothing to say
        meta.append(f"confidence {entry.confidence:.2f}")
    parts = [
        f'<div class="card{" flagged" if entry.needs_review else ""}">',
        f"<h3><span>{_e(entry.name)}</span>{_badge(entry.needs_review, badge)}</h3>",
    ]
    parts.append(f'<div class="meta">{_e(" · ".join(meta))}</div>')
    if entry.error is not None:
        parts.append(f'<p class="error">Not analysed: {_e(entry.error)}</p>')
    if entry.reasons:
        parts.append('<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in entry.reasons) + "</ul>")
    if entry.overlay_png:
        parts.append(_img(entry.overlay_png, f"{entry.name} with contours"))
    if entry.values:
        rows = "".join(f'<tr><th>{_heading(k)}</th><td class="num">{_fmt(v)}</td></tr>' for k, v in entry.values.items())
        parts.append(f"<table>{rows}</table>")
    return "\n".join([*parts, "</div>"])


def _qc_line(slices: Sequence[SliceEntry]) -> str:
    flagged = sum(s.needs_review for s in slices)
    failed = sum(s.error is not None for s in slices)
    cls = "bad" if flagged else "good"
    text = f"All {len(slices)} slices passed the quality check"
    if flagged:
        text = f"{flagged} of {len(slices)} slices flagged for review"
        text += f" ({failed} not analysed)" if failed else ""
    return f'<p class="qc {cls}">{_e(text)}</p>'


def write_patient_report(
    path: Path | str,
    patient: PatientEntry,
    *,
    title: str = "myomap report",
    settings: dict | None = None,
    created: datetime | None = None,
) -> Path:
    """Write one patient's self-contained HTML report.

    The page shows the label, the run date, a QC summary line, the warning
    and notes, the T1, T2 and ECV bullseyes, the summary table, one card per slice (overlay, values, a red
    "review" badge with its reasons or a green "ok" badge) and ``settings``.

    Parameters
    ----------
    path : path-like
        Output file; its folder is created if needed.  Written atomically.
    patient : PatientEntry
        What to show.  Nothing else reaches the page.
    title : str, optional
        Page title.
    settings : dict, optional
        Analysis settings (model, erosion margin, ...), shown as ``key: str(value)``.
    created : datetime, optional
        Date of the run shown on the page; none by default, so that a rerun gives the same bytes.

    Returns
    -------
    Path
        ``path``.
    """
    map_types = sorted(
        patient.segments,
        key=lambda m: (_MAP_ORDER.index(m) if m in _MAP_ORDER else len(_MAP_ORDER), m),
    )
    body = [
        f"<h1>{_e(title)}: {_e(patient.label)}</h1>",
        f'<div class="meta">{_when(created, "Analysed ")}{" · " if created else ""}{len(patient.slices)} slices</div>',
        _qc_line(patient.slices),
    ]
    if patient.warning:
        body.append(_WARNING_HTML.format(_e(patient.warning)))
    if patient.notes:
        body.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in patient.notes) + "</ul>")
    body.append("<h2>AHA segments</h2>")
    if map_types:
        images = "".join(
            _img(
                bullseye_svg(patient.segments[m], map_type=m, unit="%" if m == "ECV" else "ms", flags=patient.flags.get(m)),
                f"{m} bullseye",
                "image/svg+xml",
            )
            for m in map_types
        )
        body.append(f'<div class="bullseyes">{images}</div>')
    else:
        body.append("<p>No segment values.</p>")
    body += [
        "<h2>Summary</h2>",
        _table(patient.summary) if patient.summary else "<p>No values.</p>",
    ]
    body += [
        "<h2>Slices</h2>",
        '<div class="cards">',
        *(_slice_card(s) for s in patient.slices),
        "</div>",
    ]
    if settings:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in settings.items())
        body += ["<h2>Settings</h2>", f"<table>{rows}</table>"]
    return _write(path, f"{title}: {patient.label}", body, created)


def write_run_summary(
    path: Path | str,
    patients: Sequence[tuple[PatientEntry, str]],
    *,
    errors: Sequence[str] = (),
    title: str = "myomap run summary",
    created: datetime | None = None,
    warning: str = "",
) -> Path:
    """Write the run's index page: one row per patient linking to its report, then the errors.

    Parameters
    ----------
    path : path-like
        Output file; its folder is created if needed.  Written atomically.
    patients : sequence of (PatientEntry, str)
        Each patient with the href of its report, relative to ``path``.
    errors : sequence of str, optional
        The run's errors, one line each.
    warning : str, optional
        Shown at the top of the page (e.g. an unvalidated model).
    title : str, optional
        Page title.
    created : datetime, optional
        Date of the run shown on the page; none by default.

    Returns
    -------
    Path
        ``path``.
    """
    rows = []
    for patient, href in patients:
        flagged = sum(s.needs_review for s in patient.slices)
        rows.append(
            f'<tr><td><a href="{_e(href)}">{_e(patient.label)}</a></td><td class="num">{len(patient.slices)}</td>'
            f'<td class="num">{_badge(True) + " " if flagged else ""}{flagged}</td>'
            + "".join(f'<td class="num">{_fmt(patient.global_median_ms(m))}</td>' for m in _RUN_COLUMNS)
            + "</tr>"
        )
    head = (
        '<tr><th>patient</th><th class="num">slices</th><th class="num">flagged</th>'
        + "".join(f'<th class="num">{m} global median (ms)</th>' for m in _RUN_COLUMNS)
        + "</tr>"
    )
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<div class="meta">{_when(created, "Run ")}{" · " if created else ""}{len(patients)} patients</div>',
        *([_WARNING_HTML.format(_e(warning))] if warning else []),
        _qc_line([s for p, _ in patients for s in p.slices]),
        "<h2>Patients</h2>",
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>" if rows else "<p>No patients analysed.</p>",
        f"<h2>Errors ({len(errors)})</h2>",
        '<ul class="errors">' + "".join(f"<li>{_e(line)}</li>" for line in errors) + "</ul>" if errors else "<p>None.</p>",
    ]
    return _write(path, title, body, created)
