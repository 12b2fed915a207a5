"""Commands that make and prepare data: ``simulate``, ``fit``, ``import-paper``, ``import-labels``, ``import-contours``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from myomap.cli.app import error_line, fail, log, progress_bar


def simulate(
    out: Annotated[Path, typer.Argument(help="Output folder (must not exist or be empty, unless --overwrite).")],
    subjects: Annotated[int, typer.Option("--subjects", "-n", help="Number of subjects.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical output.")] = 0,
    field: Annotated[str, typer.Option(help="Field strength: 1.5T (the paper's), 3T, or mixed (half each).")] = "1.5T",
    artefact_fraction: Annotated[float, typer.Option(help="Share of images with a motion or off-resonance artefact.")] = 0.15,
    preview: Annotated[bool, typer.Option("--preview", help="Write a montage PNG per subject to OUT/preview/.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing, non-empty OUT.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (0: one per CPU).")] = 0,
    contrast: Annotated[
        bool,
        typer.Option(
            "--contrast",
            help="Also simulate post-contrast T1 maps (T1post_<slice>) with a known haematocrit and ECV per subject (in subjects.csv).",
        ),
    ] = False,
) -> None:
    """Simulate a cohort of T1/T2 mapping data with exact ground truth (the digital phantom).

    Per subject: basal, mid and apical MOLLI T1 and T2-prep T2 maps fitted
    pixel-wise from simulated weighted images (DICOM), reference contours,
    two further observers for test subjects, the noise-free truth
    (truth.npz), plus manifest.csv, subjects.csv and simulate.yaml.  With
    --contrast also post-contrast MOLLI T1 maps of the same slices.

    Example: [bold]myomap simulate cohort --subjects 40 --seed 7 --preview[/]
    """
    from myomap.phantom.cohort import SimulationConfig, SimulationError, simulate_cohort

    config = SimulationConfig(subjects=subjects, seed=seed, field=field, artefact_fraction=artefact_fraction, contrast=contrast)
    try:
        config.validate()
        with progress_bar() as bar:
            task = bar.add_task("simulating", total=subjects)
            manifest = simulate_cohort(
                out, config, overwrite=overwrite, preview=preview, workers=workers or None, progress=lambda _: bar.advance(task)
            )
    except SimulationError as exc:
        raise fail(str(exc)) from None
    log.info("wrote %d subjects to %s (manifest: %s)", subjects, out, manifest.name)
    if preview:
        log.info("previews: %s", out / "preview")


def fit(
    series: Annotated[
        list[Path],
        typer.Argument(
            help="DICOM files, folders of weighted images (searched recursively) or ZIP archives of them, also inside folders and archives."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; one subfolder per fitted series.")],
    model: Annotated[
        str, typer.Option(help="auto (MOLLI if inversion times, T2 if T2-prep times), molli, ir (plain inversion recovery) or t2.")
    ] = "auto",
    times: Annotated[
        str | None, typer.Option(help="Comma-separated times in ms, one per image in InstanceNumber order (overrides DICOM).")
    ] = None,
    register: Annotated[bool, typer.Option("--register", help="Align the weighted images (translation) before fitting.")] = False,
    mask_background: Annotated[
        bool, typer.Option("--mask-background/--no-mask-background", help="Leave dark background pixels unfitted (NaN, stored as 0).")
    ] = True,
    noise_correction: Annotated[
        bool,
        typer.Option(
            "--noise-correction/--no-noise-correction",
            help="Remove the Rician noise floor (sigma estimated from the background, recorded in fits.csv) before fitting. Off by default: scanners fit the plain model, and the estimate is only trustworthy for single-coil magnitude data, not parallel imaging.",
        ),
    ] = False,
    keep_phi: Annotated[
        bool,
        typer.Option(
            "--keep-phi",
            help="Copy patient name, ID and study UID into the output DICOM, name output folders after the series descriptions and show input paths in messages.",
        ),
    ] = False,
) -> None:
    """Fit T1 (MOLLI or plain IR) or T2 maps pixel-wise from weighted images.

    A folder holding several slices or series gives one map per series and
    slice; single images of one position and protocol spread over several
    series (one series per inversion time) are grouped into one map.  Writes per series map.dcm (ms), r2.dcm (goodness of fit),
    fit.npz (all parameters) and preview.png, plus fits.csv.  Series that
    cannot be fitted are reported one line each; the exit code is 1 if any
    failed.

    Example: [bold]myomap fit cohort/sub-001/T1_mid -o fits[/]
    """
    from myomap.mapping.pipeline import fit_paths

    time_list = None
    if times is not None:
        try:
            time_list = [float(t) for t in times.replace(" ", "").split(",") if t]
        except ValueError:
            raise fail(f"--times must be comma-separated numbers in ms, got {times!r}") from None
    try:
        with progress_bar() as bar:
            task = bar.add_task("fitting", total=None)

            def advance(name: str, total: int) -> None:
                bar.update(task, total=total, advance=1, description=f"fitting {name}")

            report = fit_paths(
                series,
                out,
                model=model,
                times_ms=time_list,
                keep_phi=keep_phi,
                mask_background=mask_background,
                noise_correction=noise_correction,
                register=register,
                progress=advance,
                hide_paths=None if keep_phi else _path_hider,
            )
    except ValueError as exc:
        raise fail(str(exc)) from None
    for outcome in report.outcomes:
        log.info(
            "%s: %s fit of %d images (times from %s), median R² %.4f -> %s",
            outcome.name,
            outcome.model,
            len(outcome.times_ms),
            outcome.time_source,
            outcome.median_r2,
            outcome.folder,
        )
    for note in report.notes:
        log.info(note)
    for error in report.errors:
        error_line(error)
    if report.errors:
        if not keep_phi:
            log.info("input files are named by a hash of their path (file-...): --keep-phi shows the paths")
        raise typer.Exit(code=1)


def _path_hider(inputs: list[Path]) -> Callable[[str], str]:
    """What rewrites ``fit``'s messages without ``--keep-phi``: input paths (folders are often named after the patient) as a hash keyed for this run."""
    import secrets
    from functools import partial

    from myomap.analyze.names import SourceNames, keyed_hash

    return SourceNames(inputs, keep_phi=False, hasher=partial(keyed_hash, secrets.token_hex(16))).scrub


def import_paper(
    source: Annotated[Path, typer.Argument(help="Folder in the paper's layout: 'Patient (N)/T1_map_base/*.dcm' ...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write manifest.csv to (the source is never modified).")],
) -> None:
    """Write a manifest for a data set in the paper's own folder layout.

    Slices that cannot be imported are reported one per line and make the
    exit code 1; the others are still written.

    Example: [bold]myomap import-paper /data/kalapos -o /data/kalapos-manifest[/]
    """
    from myomap.io.paper import import_paper_layout

    try:
        manifest, problems = import_paper_layout(source, out)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    for problem in problems:
        error_line(problem)
    log.info("wrote %s", manifest)
    if problems:
        raise typer.Exit(code=1)


def import_labels(
    source: Annotated[
        Path,
        typer.Argument(
            help="Folder of NIfTI images with their label images (<name>_gt.nii.gz beside <name>.nii.gz), searched recursively."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder for the data set (must not exist or be empty, unless --overwrite).")
    ],
    convention: Annotated[
        str,
        typer.Option(
            help="What the label values mean: acdc (1 RV, 2 LV myocardium, 3 LV cavity) or mnms (1 LV cavity, 2 LV myocardium, 3 RV)."
        ),
    ],
    map_type: Annotated[
        str,
        typer.Option(
            "--map-type",
            help="T1 or T2: what the manifest and the DICOM call the images (a cine is taken as a map of this type, as in analyze --map-type).",
        ),
    ] = "T1",
    keep_phi: Annotated[
        bool,
        typer.Option(
            "--keep-phi",
            help="Name subjects after the codes in the file names (ACDC patient001, M&Ms A0S9V9) instead of patient-01..., add a source column to the manifest and show input paths in messages.",
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into an existing, non-empty OUT.")] = False,
) -> None:
    """Turn NIfTI label images (ACDC, M&Ms) into a data set that train and evaluate read.

    Per labelled slice (and cine phase) writes a DICOM image (spacing and
    geometry from the NIfTI, as analyze reads it) and its epi- and
    endocardial contours, plus manifest.csv with one subject per patient and
    each slice's level (basal, mid, apical).  M&Ms cines give their labelled
    phases only (ED, ES).  Slices without myocardium or LV cavity are skipped
    and counted.  Files that cannot be used are reported one per line and
    make the exit code 1 (as does an import of nothing); the others are
    still written.  The source is never modified; file names do not reach
    the DICOM headers.

    Example: [bold]myomap import-labels /data/ACDC/training -o data/acdc --convention acdc --keep-phi[/]
    """
    from myomap.evaluate.labels import LabelImportError
    from myomap.evaluate.labels import import_labels as run_import

    hide = (lambda message: message) if keep_phi else _path_hider([source])
    try:
        with progress_bar() as bar:
            task = bar.add_task("importing", total=None)
            report = run_import(
                source, out, convention.lower(), map_type=map_type.upper(), keep_phi=keep_phi, overwrite=overwrite,
                found=lambda n: bar.update(task, total=n), progress=lambda name: bar.update(task, advance=1, description=f"importing {name}"),
            )  # fmt: skip
    except LabelImportError as exc:
        raise fail(hide(str(exc))) from None
    except OSError as exc:
        raise fail(f"{out}: cannot write ({exc.strerror or exc})") from None
    for error in report.errors:
        error_line(hide(error))
    log.info("%d slices of %d subjects imported; slices skipped: %s", report.slices, report.subjects, _counted(report.skipped))
    if report.unlabelled_phases or report.long_axis:
        log.info("not imported: %d cine phases without labels, %d long-axis images", report.unlabelled_phases, report.long_axis)
    _end_import(report.manifest, failed=bool(report.errors), keep_phi=keep_phi)


def _counted(reasons: Counter) -> str:
    """``"2 reason, 1 other"`` (in reason order), or ``"none"``."""
    return ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()) if count) or "none"


def _end_import(manifest: Path | None, *, failed: bool, keep_phi: bool) -> None:
    """Say where the manifest went; exit code 1 (with how the hashed file names can be shown) when an input failed or
    nothing was imported (an earlier manifest.csv in OUT, with --overwrite, is then not this import's)."""
    if manifest is not None:
        log.info("wrote %s", manifest)
    else:
        error_line("nothing imported: no manifest written (the counts above say why)")
    if failed or manifest is None:
        if not keep_phi:
            log.info("input files are named by a hash of their path (file-...): --keep-phi shows the paths")
        raise typer.Exit(code=1)


def import_contours(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="The DICOM images the contours were drawn on: files, folders (searched recursively) or ZIP archives of exams."),
    ],
    workspace: Annotated[
        list[Path],
        typer.Option(
            "--workspace",
            "-w",
            help="A cvi42 XML workspace (.cvi42wsx; also zlib/gzip-compressed or inside a ZIP archive); repeat for several.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder for the data set (must not exist or be empty, unless --overwrite).")
    ],
    map_type: Annotated[
        str | None,
        typer.Option(
            "--map-type",
            help="T1 or T2: the type of contoured series the header does not call a map (a cine: its phases taken as maps of this type, as in analyze --map-type); without it their contours are skipped. Maps named by their header keep their own type.",
        ),
    ] = None,
    keep_phi: Annotated[
        bool,
        typer.Option(
            "--keep-phi",
            help="Name subjects after their PatientID instead of patient-01..., keep the StudyInstanceUID and series descriptions, add a source column to the manifest and show input paths in messages.",
        ),
    ] = False,
    pixel_origin: Annotated[
        str,
        typer.Option(
            "--pixel-origin",
            help="Where cvi42's point (0, 0) lies: corner (the top-left corner of the first pixel) or centre (its centre). "
            "Not documented by cvi42; if imported contours sit half a pixel up and left of the wall, use centre.",
        ),
    ] = "corner",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into an existing, non-empty OUT.")] = False,
) -> None:
    """Turn expert contours from Circle cvi42 XML workspaces into a data set that train and evaluate read.

    The workspaces name each contoured image by its SOPInstanceUID; the
    DICOM inputs are searched for those images.  Every image with both
    short-axis LV contours (saepicardialContour, saendocardialContour) in a
    T1 or T2 map series becomes a DICOM image (its values in ms) with its
    contours.json, plus manifest.csv with one subject per patient and study
    and each slice's level (basal, mid, apical).  cvi42's (0, 0) is taken
    for the top-left corner of the first pixel unless --pixel-origin centre
    (the evidence is thin: docs/data_layout.md).  Images with one LV contour or
    long-axis contours only, images not among the inputs and images of
    series that are not maps are skipped and counted.  Workspaces and files
    that cannot be used are reported one per line and make the exit code
    1 (as does an import of nothing); the others are still written.  The
    inputs are never modified.

    Example: [bold]myomap import-contours /data/exams -w /data/cvi42/site.cvi42wsx -o data/site --map-type T1[/]
    """
    from myomap.analyze.import_contours import ContourImportError
    from myomap.analyze.import_contours import import_contours as run_import

    offsets = {"corner": 0.5, "centre": 0.0, "center": 0.0}
    if pixel_origin.lower() not in offsets:
        raise fail(f"--pixel-origin must be corner or centre, got {pixel_origin!r}", code=2)
    hide = (lambda message: message) if keep_phi else _path_hider([*inputs, *workspace])
    try:
        with progress_bar() as bar:
            task = bar.add_task("importing", total=None)
            report = run_import(
                inputs, workspace, out, map_type=None if map_type is None else map_type.upper(), keep_phi=keep_phi,
                overwrite=overwrite, origin_offset_px=offsets[pixel_origin.lower()], found=lambda n: bar.update(task, total=n),
                progress=lambda name: bar.update(task, advance=1, description=f"importing {name}"),
            )  # fmt: skip
    except ContourImportError as exc:
        raise fail(hide(str(exc))) from None
    except OSError as exc:
        raise fail(f"{out}: cannot write ({exc.strerror or exc})") from None
    for note in report.notes:
        log.info(hide(note))
    for error in report.errors:
        error_line(hide(error))
    log.info(
        "%d images of %d subjects imported (of %d contoured in the workspaces); images skipped: %s",
        report.images, report.subjects, report.contoured, _counted(report.skipped),
    )  # fmt: skip
    _end_import(report.manifest, failed=bool(report.errors), keep_phi=keep_phi)
