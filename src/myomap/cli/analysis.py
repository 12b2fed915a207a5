"""The main job: ``analyze``."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from myomap.cli.app import err, error_line, fail, log, progress_bar
from myomap.conventions import MAP_TYPES


class ReferencePoint(str, Enum):
    """Choices of ``analyze --reference-point`` (typer names the option when given another)."""

    auto = "auto"
    estimate = "estimate"


# analyze's exit codes: 0 all done, 1 some inputs failed, 2 bad usage, 3 nothing could be analysed (or OUT not written).
EXIT_SOME_FAILED, EXIT_USAGE, EXIT_NOTHING = 1, 2, 3


def analyze(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="DICOM files, folders (searched recursively; any order, several patients) or ZIP archives of them, also inside folders and archives."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: new or empty, unless --overwrite or --resume.")],
    model: Annotated[
        str,
        typer.Option(
            help="Model file (.pt from myomap train or .onnx from myomap export-onnx), or 'embedded' (the default phantom-trained model)."
        ),
    ] = "embedded",
    fit_missing: Annotated[
        bool, typer.Option("--fit-missing", help="Fit maps from weighted images (MOLLI, T2-prep) where the scanner's map is missing.")
    ] = False,
    erosion: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Partial-volume margin in pixels removed from the myocardial ROI for the eroded values (default 1: the border pixels).",
        ),
    ] = None,
    reference_point: Annotated[
        ReferencePoint,
        typer.Option(
            case_sensitive=False,
            help="AHA reference point: auto (a contours.json beside a map, when its folder holds no other map; else estimated) or estimate (from the RV blood pool, else the DICOM orientation).",
        ),
    ] = ReferencePoint.auto,
    tta: Annotated[
        bool,
        typer.Option(
            "--tta/--no-tta", help="Test-time augmentation: its contour spread drives the quality flag (off: only the sanity checks flag)."
        ),
    ] = True,
    seg: Annotated[
        bool, typer.Option("--seg/--no-seg", help="Write a DICOM SEG per slice (and, unless --keep-phi, a de-identified copy of its map).")
    ] = True,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the HTML reports.")] = True,
    keep_phi: Annotated[
        bool,
        typer.Option(
            "--keep-phi",
            help="Keep every identifying field: patients named by PatientID, SEGs with the source's attributes and UIDs, source paths and series descriptions in the tables.",
        ),
    ] = False,
    keep_dates: Annotated[
        bool,
        typer.Option(
            "--keep-dates",
            help="De-identify but keep the dates and times of the study, series and images (the Basic Profile's Retain Longitudinal Temporal Information option; not the birth date).",
        ),
    ] = False,
    phi_key: Annotated[
        Path | None,
        typer.Option(
            "--phi-key",
            help="Local key file (outside OUT) that maps labels, UIDs and file hashes back to the originals; reused runs share its secret.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Clear an earlier output in OUT first.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Finish an interrupted run in OUT: patients already complete are kept.")] = False,
    map_type: Annotated[
        str | None,
        typer.Option(
            "--map-type",
            help="T1 or T2: take the series whose header names no map type nor preparation times (and NIfTI files whose sidecar names no map type, label images aside) as maps of this type; a cine (a DICOM series, or a 4-D NIfTI) gives every cardiac phase as a slice, with contours and slice rows but no pooled values (its pixels are signal, not ms).",
        ),
    ] = None,
    hematocrit: Annotated[
        str | None,
        typer.Option(
            help="Haematocrit for ECV: a fraction (0.1-0.7) for every patient, or a CSV with columns patient (label or PatientID) and hematocrit."
        ),
    ] = None,
    synthetic_hematocrit: Annotated[
        bool,
        typer.Option(
            "--synthetic-hematocrit",
            help="Without --hematocrit, estimate it from native blood T1 (published relation; flagged as synthetic).",
        ),
    ] = False,
    include_review: Annotated[
        bool,
        typer.Option("--include-review", help="Pool slices flagged for review into the patient values (default: left out and counted)."),
    ] = False,
    reference_ranges: Annotated[
        Path | None, typer.Option(help="YAML file of local normal ranges replacing the shipped published ones.")
    ] = None,
    heart_scale: Annotated[
        float,
        typer.Option(
            "--heart-scale",
            help="The patient's heart against an adult's, for a child (about 0.6 for a toddler, 0.75 for a school child): the model sees the images as if their pixels were 1/SCALE times larger, as it learned adult hearts; values use the true pixel size. Needs a fixed-pixel-size model (the embedded one is).",
        ),
    ] = 1.0,
) -> None:
    """Segment every T1/T2 map and report contours, values and quality flags per patient.

    Inputs are whole exam folders (any transfer syntax, classic or enhanced
    multi-frame DICOM) or NIfTI maps (a 4-D NIfTI is a cine; NIfTI label
    images beside them are skipped).  Every series is classified from its
    header (T1/T2 map, weighted images, not relevant) and a table of what was
    found is printed; maps are recognised from ImageType or SeriesDescription
    (never from their value range; --map-type says it for the others),
    grouped per patient and ordered base to apex from the geometry.
    Short-axis maps only: a long-axis map (2/3/4-chamber, LVOT: a name
    token in SeriesDescription/ProtocolName, or a plane over 45 degrees from
    the patient's short-axis stack) is skipped with one error line.  Per slice: overlay.png, labels.png, contours.json (pixels),
    contours_mm.json (patient frame) and, for scanner maps, seg.dcm; per patient values.csv
    (global, AHA segments, mid-septal ROI, LV blood pool; native and
    post-contrast T1 apart; flags against normal ranges), slices.csv and
    report.html; for the run run.json, slices.csv, values.csv, ecv.csv
    (with --hematocrit) and index.html.
    Without --keep-phi every DICOM written is de-identified (DICOM PS3.15
    Basic Profile) and patients are patient-01, patient-02...
    Problems are reported one line each; the other slices and patients are
    still analysed.  Exit code: 0 all done, 1 some inputs failed, 2 bad
    usage, 3 nothing analysed (or OUT could not be written).

    Example: [bold]myomap analyze /data/cmr -o results[/]
    """
    from myomap.analyze.outfolder import OutputFolderError, RunInterrupted
    from myomap.analyze.settings import AnalyzeConfig
    from myomap.config import ConfigError
    from myomap.model.inference import ModelFileError
    from myomap.report.analysis import analyze as run_analyze

    if overwrite and resume:
        raise fail("--overwrite and --resume exclude each other", EXIT_USAGE)
    if keep_phi and (keep_dates or phi_key is not None):
        raise fail("--keep-dates and --phi-key apply to de-identified runs; --keep-phi keeps everything already", EXIT_USAGE)
    if map_type is not None and map_type.upper() not in MAP_TYPES:
        raise fail(f"--map-type must be T1 or T2, got {map_type!r}", EXIT_USAGE)
    config = AnalyzeConfig(
        model=model, tta=tta, fit_missing=fit_missing, reference_point=reference_point.value, seg=seg, report=report, keep_phi=keep_phi,
        keep_dates=keep_dates, map_type=map_type.upper() if map_type else None,
        synthetic_hematocrit=synthetic_hematocrit, include_review=include_review, reference_ranges=str(reference_ranges) if reference_ranges else None,
        heart_scale=heart_scale,
    )  # fmt: skip
    if hematocrit is not None:
        try:
            config = dataclasses.replace(config, hematocrit=float(hematocrit))
        except ValueError:
            config = dataclasses.replace(config, hematocrit_csv=hematocrit)
    if erosion is not None:
        config = dataclasses.replace(config, erosion_margin_px=erosion)
    mode = "overwrite" if overwrite else "resume" if resume else "new"
    try:
        with progress_bar() as bar:
            task = bar.add_task("analysing", total=None)
            result = run_analyze(
                inputs, out, config, mode=mode, key_file=phi_key, found=lambda n: bar.update(task, total=n),
                progress=lambda k: bar.advance(task, k), inventory=_print_series,
            )  # fmt: skip
    except (ConfigError, ModelFileError, OutputFolderError) as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise fail(f"{out}: cannot write ({exc.strerror or exc})", EXIT_NOTHING) from None
    except (KeyboardInterrupt, RunInterrupted):
        raise fail(f"interrupted; {out / 'run.json'} says incomplete: rerun with --resume to finish", 130) from None
    print_analysis(result)
    if result.errors and not keep_phi:
        log.info("input files are named by a keyed hash of their path (file-...): --phi-key FILE records the paths, --keep-phi shows them")
    if result.nothing_analysed:
        raise typer.Exit(code=EXIT_NOTHING)
    if result.failed:
        raise typer.Exit(code=EXIT_SOME_FAILED)


def _print_series(rows) -> None:
    """The found-series table: series, what it is, slices, images, what analyze does with it."""
    from rich.markup import escape
    from rich.table import Table

    several = len({row.patient for row in rows}) > 1  # rows grouped per patient; "-": an exam without a map
    table = Table(
        *(["patient"] if several else []), "series", "type", "slices", "images", "action", title="found series", title_justify="left"
    )
    for row in rows:  # descriptions and file names are text, never markup
        cells = ([row.patient or "-"] if several else []) + [row.series, row.kind, row.slices, row.images, row.action]
        table.add_row(*(escape(str(cell)) for cell in cells))
    if rows:
        err.print(table)


def print_analysis(result) -> None:
    for note in result.notes:
        log.info(note)
    for error in result.errors:
        error_line(error)
    failed = result.slices - result.analysed + result.unreadable_maps
    log.info("%d slice(s) analysed, %d flagged for review, %d failed -> %s", result.analysed, result.flagged, failed, result.out)
