"""The ``myomap`` command line: a thin layer that parses, calls the API and reports."""

from __future__ import annotations

import dataclasses
import logging
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from myomap import __version__

app = typer.Typer(
    name="myomap",
    help="Segment the LV myocardium on cardiac MR T1/T2 maps and turn the contours into T1/T2 values.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)
log = logging.getLogger("myomap")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"myomap {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )
    logging.getLogger("myomap").setLevel(logging.DEBUG if verbose else logging.INFO)
    # Libraries that read DICOM narrate file paths and attribute values (identifying data) in their debug
    # messages and warnings, so they stay quiet even with --verbose: highdicom's errors and pydicom's
    # failures reach the user as our own one-line errors, which name files safely.
    logging.getLogger("highdicom").setLevel(logging.ERROR)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Output folder (must not exist or be empty, unless --overwrite).")],
    subjects: Annotated[int, typer.Option("--subjects", "-n", help="Number of subjects.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical output.")] = 0,
    field: Annotated[str, typer.Option(help="Field strength: 1.5T (the paper's), 3T, or mixed (half each).")] = "1.5T",
    artefact_fraction: Annotated[float, typer.Option(help="Share of images with a motion or off-resonance artefact.")] = 0.15,
    preview: Annotated[bool, typer.Option("--preview", help="Write a montage PNG per subject to OUT/preview/.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing, non-empty OUT.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (0: one per CPU).")] = 0,
    contrast: Annotated[bool, typer.Option("--contrast", help="Also simulate post-contrast T1 maps (T1post_<slice>) with a known haematocrit and ECV per subject (in subjects.csv).")] = False,
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
        with _progress() as bar:
            task = bar.add_task("simulating", total=subjects)
            manifest = simulate_cohort(
                out, config, overwrite=overwrite, preview=preview, workers=workers or None, progress=lambda _: bar.advance(task)
            )
    except SimulationError as exc:
        raise _fail(str(exc)) from None
    log.info("wrote %d subjects to %s (manifest: %s)", subjects, out, manifest.name)
    if preview:
        log.info("previews: %s", out / "preview")


@app.command()
def fit(
    series: Annotated[list[Path], typer.Argument(help="DICOM files or folders of weighted images (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; one subfolder per fitted series.")],
    model: Annotated[str, typer.Option(help="auto (MOLLI if inversion times, T2 if T2-prep times), molli, ir (plain inversion recovery) or t2.")] = "auto",
    times: Annotated[str | None, typer.Option(help="Comma-separated times in ms, one per image in InstanceNumber order (overrides DICOM).")] = None,
    register: Annotated[bool, typer.Option("--register", help="Align the weighted images (translation) before fitting.")] = False,
    mask_background: Annotated[bool, typer.Option("--mask-background/--no-mask-background", help="Leave dark background pixels unfitted (NaN, stored as 0).")] = True,
    noise_correction: Annotated[bool, typer.Option("--noise-correction/--no-noise-correction", help="Remove the Rician noise floor (sigma estimated from the background, recorded in fits.csv) before fitting. Off by default: scanners fit the plain model, and the estimate is only trustworthy for single-coil magnitude data, not parallel imaging.")] = False,
    keep_phi: Annotated[bool, typer.Option("--keep-phi", help="Copy patient name, ID and study UID into the output DICOM.")] = False,
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
            raise _fail(f"--times must be comma-separated numbers in ms, got {times!r}") from None
    try:
        with _progress() as bar:
            task = bar.add_task("fitting", total=None)

            def advance(name: str, total: int) -> None:
                bar.update(task, total=total, advance=1, description=f"fitting {name}")

            report = fit_paths(
                series, out, model=model, times_ms=time_list, keep_phi=keep_phi, mask_background=mask_background, noise_correction=noise_correction, register=register, progress=advance
            )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    for outcome in report.outcomes:
        log.info("%s: %s fit of %d images (times from %s), median R² %.4f -> %s", outcome.name, outcome.model, len(outcome.times_ms), outcome.time_source, outcome.median_r2, outcome.folder)
    for note in report.notes:
        log.info(note)
    for error in report.errors:
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    if report.errors:
        raise typer.Exit(code=1)


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(help="Data set folder(s) with manifest.csv (e.g. from myomap simulate, or your labelled scans).")],
    run: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, logs, split, config and model.pt.")],
    config: Annotated[Path | None, typer.Option(help="YAML with TrainConfig settings; options given here override it.")] = None,
    model: Annotated[str | None, typer.Option(help="Network from the registry, e.g. unet-resnet50 (paper), unet-mobilenet (CPU).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Total epochs (paper: 150).")] = None,
    weighted_epochs: Annotated[int | None, typer.Option(help="First epochs that also use the weighted images (paper: 70).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per batch.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    loss: Annotated[str | None, typer.Option(help="jaccard (paper), dice, ce or jaccard+ce.")] = None,
    input_size: Annotated[int | None, typer.Option(help="Network input side in pixels (paper: 224).")] = None,
    crop: Annotated[float | None, typer.Option(help="Share of the image side kept around the centre before resizing (1: whole image).")] = None,
    images_per_epoch: Annotated[int | None, typer.Option(help="Cap on training images per epoch (random subset), for short runs.")] = None,
    encoder_weights: Annotated[Path | None, typer.Option(help="Local file with ImageNet weights of the encoder (never downloaded).")] = None,
    accelerator: Annotated[str | None, typer.Option(help="auto, cpu or gpu (Lightning).")] = None,
    devices: Annotated[str | None, typer.Option(help="Devices per node: auto, a count, or a list like 0,1 (Lightning).")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Nodes for multi-node training (Lightning).")] = None,
    window_spacing_mm: Annotated[float | None, typer.Option(help="Train a model that works at this fixed pixel size in mm (locate the LV, then segment a window on it), with random views and synthesised images.")] = None,
    weights: Annotated[str | None, typer.Option(help="Sampling weight of each DATA, comma-separated (e.g. 1,3 to draw the second data set three times as often per image set).")] = None,
    init: Annotated[str | None, typer.Option(help="Start from the weights of this model.pt (fine-tuning), or 'embedded' for the embedded default model.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Stop after this many minutes of training; the best checkpoint is kept.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
) -> None:
    """Train a segmentation model with the paper's recipe (U-Net, Jaccard loss, two-stage schedule).

    Several data sets can be mixed, each with a sampling weight; a site can
    fine-tune the embedded model on its own labelled slices with
    [bold]myomap train phantom mine -o runs/site --config configs/embedded.yaml --init embedded --weights 1,3 --epochs 30[/].

    Writes RUN/config.yaml, split.csv, checkpoints/{best,last}.ckpt, CSV and
    TensorBoard logs, and model.pt (everything inference needs).

    Example: [bold]myomap train cohort -o runs/paper[/] or, on a CPU,
    [bold]myomap train cohort -o runs/cpu --model unet-mobilenet --input-size 160 --crop 0.5 --loss jaccard+ce --epochs 48 --weighted-epochs 22 --images-per-epoch 500[/]
    """
    from myomap.config import ConfigError, from_yaml
    from myomap.model.config import TrainConfig

    overrides = dict(
        model=model, epochs=epochs, weighted_epochs=weighted_epochs, batch_size=batch_size, learning_rate=learning_rate, loss=loss,
        input_size=input_size, crop=crop, max_images_per_epoch=images_per_epoch, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
        encoder_weights=str(encoder_weights) if encoder_weights else None, window_spacing_mm=window_spacing_mm, max_minutes=max_minutes,
        init=_init_path(init), data_weights=_weights(weights),
    )  # fmt: skip
    try:
        if resume and config is None and (run / "config.yaml").is_file():
            config = run / "config.yaml"
        text = config.read_text() if config is not None else ""
        settings = from_yaml(TrainConfig, text, **overrides)
        settings.validate()
    except (ConfigError, OSError) as exc:
        raise _fail(f"{config or 'settings'}: {exc}") from None

    from myomap.model.network import EncoderWeightsError
    from myomap.model.train import TrainingError, train as run_training

    try:
        model_file = run_training(list(data), run, settings, resume=resume)
    except (TrainingError, EncoderWeightsError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    log.info("model written to %s", model_file)


def _weights(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise _fail(f"--weights: expected comma-separated numbers, got {text!r}") from None


def _init_path(value: str | None) -> str | None:
    """``embedded`` names the weights shipped with the package."""
    if value != "embedded":
        return value
    from myomap.model.embedded import EMBEDDED_WEIGHTS

    return str(EMBEDDED_WEIGHTS)


@app.command("export-onnx")
def export_onnx_command(
    model: Annotated[Path, typer.Argument(help="A model.pt written by myomap train.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
) -> None:
    """Export a trained model to ONNX (dynamic batch) for fast CPU inference with ONNX Runtime.

    Example: [bold]myomap export-onnx runs/cpu/model.pt -o model.onnx[/]
    """
    from myomap.model.inference import ModelFileError, export_onnx

    try:
        export_onnx(model, out)
    except ModelFileError as exc:
        raise _fail(str(exc)) from None
    log.info("wrote %s", out)


@app.command("import-paper")
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
        raise _fail(str(exc)) from None
    for problem in problems:
        err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    log.info("wrote %s", manifest)
    if problems:
        raise typer.Exit(code=1)


class ReferencePoint(str, Enum):
    """Choices of ``analyze --reference-point`` (typer names the option when given another)."""

    auto = "auto"
    estimate = "estimate"


# analyze's exit codes: 0 all done, 1 some inputs failed, 2 bad usage, 3 nothing could be analysed.
EXIT_SOME_FAILED, EXIT_USAGE, EXIT_NOTHING = 1, 2, 3


@app.command()
def analyze(
    inputs: Annotated[list[Path], typer.Argument(help="DICOM files or folders (searched recursively; any order, several patients).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: new or empty, unless --overwrite or --resume.")],
    model: Annotated[str, typer.Option(help="Model file (.pt from myomap train or .onnx from myomap export-onnx), or 'embedded' (the default phantom-trained model).")] = "embedded",
    fit_missing: Annotated[bool, typer.Option("--fit-missing", help="Fit maps from weighted images (MOLLI, T2-prep) where the scanner's map is missing.")] = False,
    erosion: Annotated[float | None, typer.Option(min=0.0, help="Partial-volume margin in pixels removed from the myocardial ROI for the eroded values (default 1: the border pixels).")] = None,
    reference_point: Annotated[ReferencePoint, typer.Option(case_sensitive=False, help="AHA reference point: auto (a contours.json beside a map, when its folder holds no other map; else estimated) or estimate (from the RV blood pool, else the DICOM orientation).")] = ReferencePoint.auto,
    tta: Annotated[bool, typer.Option("--tta/--no-tta", help="Test-time augmentation: its contour spread drives the quality flag (off: only the sanity checks flag).")] = True,
    seg: Annotated[bool, typer.Option("--seg/--no-seg", help="Write a DICOM SEG per slice (and, unless --keep-phi, a de-identified copy of its map).")] = True,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the HTML reports.")] = True,
    keep_phi: Annotated[bool, typer.Option("--keep-phi", help="Keep every identifying field: patients named by PatientID, SEGs with the source's attributes and UIDs, source paths and series descriptions in the tables.")] = False,
    keep_dates: Annotated[bool, typer.Option("--keep-dates", help="De-identify but keep dates and times (the Basic Profile's Retain Longitudinal Temporal Information option).")] = False,
    phi_key: Annotated[Path | None, typer.Option("--phi-key", help="Local key file (outside OUT) that maps labels, UIDs and file hashes back to the originals; reused runs share its secret.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Clear an earlier output in OUT first.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Finish an interrupted run in OUT: patients already complete are kept.")] = False,
    map_type: Annotated[str | None, typer.Option("--map-type", help="T1 or T2: take the series whose header names no map type nor preparation times (and NIfTI files without a sidecar) as maps of this type.")] = None,
    hematocrit: Annotated[str | None, typer.Option(help="Haematocrit for ECV: a fraction (0.1-0.7) for every patient, or a CSV with columns patient (label or PatientID) and hematocrit.")] = None,
    synthetic_hematocrit: Annotated[bool, typer.Option("--synthetic-hematocrit", help="Without --hematocrit, estimate it from native blood T1 (published relation; flagged as synthetic).")] = False,
    include_review: Annotated[bool, typer.Option("--include-review", help="Pool slices flagged for review into the patient values (default: left out and counted).")] = False,
    reference_ranges: Annotated[Path | None, typer.Option(help="YAML file of local normal ranges replacing the shipped published ones.")] = None,
) -> None:
    """Segment every T1/T2 map and report contours, values and quality flags per patient.

    Inputs are whole exam folders (any transfer syntax, classic or enhanced
    multi-frame DICOM) or NIfTI maps.  Every series is classified from its
    header (T1/T2 map, weighted images, not relevant) and a table of what was
    found is printed; maps are recognised from ImageType or SeriesDescription
    (never from their value range; --map-type says it for the others),
    grouped per patient and ordered base to apex from the geometry.  Per slice: overlay.png, labels.png, contours.json (pixels),
    contours_mm.json (patient frame) and, for scanner maps, seg.dcm; per patient values.csv
    (global, AHA segments, mid-septal ROI, LV blood pool; native and
    post-contrast T1 apart; flags against normal ranges), slices.csv and
    report.html; for the run run.json, slices.csv, values.csv, ecv.csv
    (with --hematocrit) and index.html.
    Without --keep-phi every DICOM written is de-identified (DICOM PS3.15
    Basic Profile) and patients are patient-01, patient-02...
    Problems are reported one line each; the other slices and patients are
    still analysed.  Exit code: 0 all done, 1 some inputs failed, 2 bad
    usage, 3 nothing analysed.

    Example: [bold]myomap analyze /data/cmr -o results[/]
    """
    from myomap.analyze.outfolder import OutputFolderError, RunInterrupted
    from myomap.analyze.settings import AnalyzeConfig
    from myomap.report.analysis import analyze as run_analyze
    from myomap.config import ConfigError
    from myomap.model.inference import ModelFileError

    if overwrite and resume:
        raise _fail("--overwrite and --resume exclude each other", EXIT_USAGE)
    if keep_phi and (keep_dates or phi_key is not None):
        raise _fail("--keep-dates and --phi-key apply to de-identified runs; --keep-phi keeps everything already", EXIT_USAGE)
    if map_type is not None and map_type.upper() not in ("T1", "T2"):
        raise _fail(f"--map-type must be T1 or T2, got {map_type!r}", EXIT_USAGE)
    config = AnalyzeConfig(
        model=model, tta=tta, fit_missing=fit_missing, reference_point=reference_point.value, seg=seg, report=report, keep_phi=keep_phi,
        keep_dates=keep_dates, map_type=map_type.upper() if map_type else None,
        synthetic_hematocrit=synthetic_hematocrit, include_review=include_review, reference_ranges=str(reference_ranges) if reference_ranges else None,
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
        with _progress() as bar:
            task = bar.add_task("analysing", total=None)
            result = run_analyze(
                inputs, out, config, mode=mode, key_file=phi_key, found=lambda n: bar.update(task, total=n),
                progress=lambda k: bar.advance(task, k), inventory=_print_series,
            )  # fmt: skip
    except (ConfigError, ModelFileError, OutputFolderError) as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise _fail(f"{out}: cannot write ({exc.strerror or exc})", EXIT_NOTHING) from None
    except (KeyboardInterrupt, RunInterrupted):
        raise _fail(f"interrupted; {out / 'run.json'} says incomplete: rerun with --resume to finish", 130) from None
    _print_analysis(result)
    if result.errors and not keep_phi:
        log.info("input files are named by a keyed hash of their path (file-...): --phi-key FILE records the paths, --keep-phi shows them")
    if result.nothing_analysed:
        raise typer.Exit(code=EXIT_NOTHING)
    if result.failed:
        raise typer.Exit(code=EXIT_SOME_FAILED)


def _print_series(rows) -> None:
    """The found-series table: series, what it is, slices, images, what analyze does with it."""
    from rich.table import Table

    table = Table("series", "type", "slices", "images", "action", title="found series", title_justify="left")
    for row in rows:
        table.add_row(row.series, row.kind, str(row.slices), str(row.images), row.action)
    if rows:
        err.print(table)


def _print_analysis(result) -> None:
    for note in result.notes:
        log.info(note)
    for error in result.errors:
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    failed = result.slices - result.analysed + result.unreadable_maps
    log.info("%d slice(s) analysed, %d flagged for review, %d failed -> %s", result.analysed, result.flagged, failed, result.out)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="Data set folder with manifest.csv (its split column chooses the images).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for CSVs, tables and figures.")],
    model: Annotated[str, typer.Option(help="Model file (.pt or .onnx), or 'embedded'.")] = "embedded",
    split: Annotated[str, typer.Option(help="Which split to evaluate: test, val, train, or all.")] = "test",
    observers: Annotated[str, typer.Option(help="Comma-separated observers, the first being the reference (manifest columns contours, contours_obs2, ...).")] = "reference,obs2,obs3",
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Draw the figures.")] = True,
) -> None:
    """Reproduce the paper's evaluation: model against every observer and observers against each other.

    Writes metrics.csv (tidy, per image, comparison and contour), values.csv
    (myocardial T1/T2 per image and rater), Tables 2-5 and 8 with Welch
    ANOVA / Games-Howell, Kruskal-Wallis / DSCF and ICC as tables.md and
    tables.html, and figures/. Missing comparisons are counted, not dropped.

    Example: [bold]myomap evaluate cohort --model runs/cpu/model.pt -o study[/]
    """
    try:
        from myomap.evaluate.run import EvaluateConfig, evaluate as run_evaluate
        from myomap.evaluate.study import EvaluationError
    except ImportError as exc:
        raise _fail(f"myomap evaluate needs the evaluate extra ({exc.name or exc} is missing): pip install 'myomap[evaluate]'") from None
    from myomap.io.dataset import OBSERVER_COLUMNS, ManifestError
    from myomap.model.inference import ModelFileError

    names = tuple(o.strip() for o in observers.split(",") if o.strip())
    unknown = [n for n in names if n not in OBSERVER_COLUMNS]
    if unknown or not names:
        raise _fail(f"--observers: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(OBSERVER_COLUMNS)}")
    config = EvaluateConfig(model=model, split=split, observers=names, figures=figures)
    try:
        with _progress() as bar:
            bar.add_task("evaluating", total=None)
            result = run_evaluate(data, out, config)
    except (EvaluationError, ModelFileError, ManifestError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{out}: cannot write ({exc.strerror or exc})") from None
    for error in result.errors:
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    missing = int(result.metrics["missing"].sum()) if not result.metrics.empty else 0
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    log.info("%d maps evaluated, %d comparisons could not be made (see tables.md); %s -> %s", result.metrics["image"].nunique(), missing, timing, out)
    if result.errors:
        raise typer.Exit(code=1)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: phantom/ (the simulated data) and analysis/.")] = Path("myomap-demo"),
    subjects: Annotated[int, typer.Option("--subjects", "-n", help="Number of simulated subjects.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the phantom.")] = 1,
) -> None:
    """The whole chain on the embedded defaults: simulate a small cohort, analyse it, compare with the truth.

    Writes OUT/phantom (a simulated cohort at 1.5 T and 3 T), OUT/analysis
    (everything myomap analyze writes; open OUT/analysis/index.html) and
    OUT/analysis/truth.csv (Dice against the reference observer and value
    errors against the phantom's truth, per slice).

    Example: [bold]myomap demo -o demo-out[/]
    """
    from myomap.analyze.settings import AnalyzeConfig
    from myomap.report.analysis import analyze as run_analyze
    from myomap.analyze.truth import summarise_truth, truth_rows, write_truth_csv
    from myomap.phantom.cohort import SimulationConfig, SimulationError, simulate_cohort

    phantom = out / "phantom"
    rows: list[dict] = []
    try:
        with _progress() as bar:
            task = bar.add_task("simulating", total=subjects)
            simulate_cohort(phantom, SimulationConfig(subjects=subjects, seed=seed, field="mixed"), overwrite=True, progress=lambda _: bar.advance(task))
            task = bar.add_task("analysing", total=None)
            # The phantom ships the true RV insertion points; estimate them as on real data.
            result = run_analyze(
                [phantom], out / "analysis", AnalyzeConfig(reference_point="estimate"), mode="overwrite",
                found=lambda n: bar.update(task, total=n), progress=lambda k: bar.advance(task, k), on_patient=lambda done: rows.extend(truth_rows(done)),
            )  # fmt: skip
    except SimulationError as exc:
        raise _fail(str(exc)) from None
    _print_analysis(result)
    write_truth_csv(out / "analysis" / "truth.csv", rows)
    summary = summarise_truth(rows)
    log.info(
        "against the phantom truth (%d slices): myocardium Dice %.3f, Hausdorff %.2f mm; median error T1 %+.1f ms, T2 %+.2f ms (eroded ROI)",
        summary["slices"], summary.get("dice_myocardium", float("nan")), summary.get("hd_mm", float("nan")),
        summary.get("T1_median_error_ms", float("nan")), summary.get("T2_median_error_ms", float("nan")),
    )  # fmt: skip
    log.info("report: %s", out / "analysis" / "index.html")
    if result.failed:
        raise typer.Exit(code=1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
