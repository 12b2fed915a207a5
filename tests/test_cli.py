import csv
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from myomap.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "simulate" in result.output and "import-paper" in result.output


@pytest.mark.slow
def test_simulate_writes_a_cohort_with_previews(tmp_path):
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["simulate", str(out), "--subjects", "1", "--seed", "3", "--preview", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader((out / "manifest.csv").open()))) == 3 * 9 + 3 * 4
    png = out / "preview" / "sub-001.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_errors_are_one_line_and_exit_non_zero(tmp_path):
    result = runner.invoke(app, ["simulate", str(tmp_path / "x"), "--subjects", "0"])
    assert result.exit_code == 1
    assert "at least 1" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("x")
    result = runner.invoke(app, ["simulate", str(tmp_path / "full"), "--subjects", "1"])
    assert result.exit_code == 1 and "--overwrite" in result.output
    result = runner.invoke(app, ["simulate", str(tmp_path / "y"), "--field", "7T"])
    assert result.exit_code == 1 and "--field" in result.output


def test_import_paper_on_a_folder_without_the_layout(tmp_path):
    result = runner.invoke(app, ["import-paper", str(tmp_path), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "no '<patient>/T1_map_base'" in result.output


def test_error_lines_print_paths_as_text_not_markup(tmp_path):
    folder = tmp_path / "exam [backup] [" / "] 2"  # rich would drop "[backup]" as a style and fail on "[/]"
    folder.mkdir(parents=True)
    result = runner.invoke(app, ["import-paper", str(folder), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1, result.output
    assert "exam [backup] [/] 2" in " ".join(result.output.split())


def test_fit_command_writes_maps_and_reports_failures(cohort, tmp_path):
    out = tmp_path / "fits"
    result = runner.invoke(app, ["fit", str(cohort / "sub-001" / "T1_basal"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list(out.rglob("map.dcm"))) == 1
    result = runner.invoke(app, ["fit", str(cohort / "sub-001" / "T1_basal"), str(tmp_path / "nothing"), "-o", str(out)])
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_fit_command_explicit_times(cohort, tmp_path):
    folder = cohort / "sub-001" / "T2_basal"
    result = runner.invoke(app, ["fit", str(folder), "-o", str(tmp_path / "a"), "--model", "t2", "--times", "0,25,55"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fit", str(folder), "-o", str(tmp_path / "b"), "--times", "0,25,55"])
    assert result.exit_code == 1 and "explicit --model" in result.output
    result = runner.invoke(app, ["fit", str(folder), "-o", str(tmp_path / "c"), "--model", "t2", "--times", "0,x"])
    assert result.exit_code == 1 and "comma-separated" in result.output


@pytest.mark.slow
def test_train_and_export_onnx_commands(cohort, tmp_path, caplog):
    run = tmp_path / "run"
    args = ["train", str(cohort), "-o", str(run), "--model", "unet-resnet18-tiny", "--epochs", "1", "--weighted-epochs", "1"]
    result = runner.invoke(app, [*args, "--input-size", "64", "--batch-size", "8", "--images-per-epoch", "16"])
    assert result.exit_code == 0, result.output
    assert "model: unet-resnet18-tiny" in (run / "config.yaml").read_text()
    assert "training on CPU (1 device(s), 32-true)" in caplog.text
    # Lightning's own INFO lines (a tip, the GPUs found) go through the terminal's floors.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        assert logging.getLogger(name).handlers == [] and logging.getLogger(name).propagate
    result = runner.invoke(app, ["export-onnx", str(run / "model.pt"), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0 and (tmp_path / "m.onnx").stat().st_size > 0
    result = runner.invoke(app, ["export-onnx", str(run / "checkpoints" / "last.ckpt"), "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 1 and "not a myomap model file" in result.output and not (tmp_path / "x.onnx").exists()


def test_train_rejects_bad_settings_in_one_line(cohort, tmp_path):
    result = runner.invoke(app, ["train", str(cohort), "-o", str(tmp_path / "r"), "--model", "unet-resnet51"])
    assert result.exit_code == 1 and "unknown model" in result.output
    (tmp_path / "c.yaml").write_text("epochs: 10\nlearning_rat: 0.1\n")
    result = runner.invoke(app, ["train", str(cohort), "-o", str(tmp_path / "r"), "--config", str(tmp_path / "c.yaml")])
    assert result.exit_code == 1 and "unknown settings: learning_rat" in result.output
    result = runner.invoke(
        app,
        [
            "train",
            str(cohort),
            "-o",
            str(tmp_path / "r"),
            "--encoder-weights",
            str(tmp_path / "none.pth"),
            "--model",
            "unet-resnet18-tiny",
            "--epochs",
            "1",
            "--weighted-epochs",
            "0",
        ],
    )
    assert result.exit_code == 1 and "Nothing is downloaded" in result.output


@pytest.fixture
def tiny_model(tmp_path):
    """An untrained model file working at 2.5 mm and 64 px, for --init."""
    from myomap.model.inference import default_meta, save_model_file
    from myomap.model.network import build_network
    from myomap.model.registry import get_spec

    spec = get_spec("unet-resnet18-tiny")
    save_model_file(tmp_path / "tiny.pt", build_network(spec), default_meta(spec, 64, window_spacing_mm=2.5))
    return tmp_path / "tiny.pt"


@pytest.fixture
def started(monkeypatch):
    """Replaces the training itself: the settings each ``myomap train`` would have trained with."""
    import myomap.model.train

    runs = []

    def fake(data, run, settings, **kwargs):
        runs.append(settings)
        return run / "model.pt"

    monkeypatch.setattr(myomap.model.train, "train", fake)
    return runs


def test_train_init_takes_the_model_settings_unless_given(cohort, tmp_path, tiny_model, started):
    base = ["train", str(cohort), "-o", str(tmp_path / "r"), "--init", str(tiny_model)]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    (settings,) = started
    assert (settings.model, settings.input_size, settings.window_spacing_mm, settings.crop) == ("unet-resnet18-tiny", 64, 2.5, 1.0)
    # Set to the model's own values, on the command line or in a config file: the same run.
    (tmp_path / "same.yaml").write_text("input_size: 64\nwindow_spacing_mm: 2.5\n")
    for extra in (["--input-size", "64", "--model", "unet-resnet18-tiny"], ["--config", str(tmp_path / "same.yaml")]):
        assert runner.invoke(app, [*base, *extra]).exit_code == 0
    assert started[1] == started[2] == settings


@pytest.mark.parametrize(
    "extra, yaml, message",
    [
        (["--input-size", "128"], "", "works with input_size 64, but --input-size sets input_size 128"),
        ([], "window_spacing_mm: 1.25\n", "works with window_spacing_mm 2.5, but {yaml} sets window_spacing_mm 1.25"),
        ([], "input_size: 224\n", "works with input_size 64, but {yaml} sets input_size 224"),  # the default, given in the file
        (["--crop", "0.5"], "crop: 1.0\n", "works with crop 1.0, but --crop sets crop 0.5"),  # the option wins over the file
        (["--model", "unet-mobilenet"], "", "--init model is 'unet-resnet18-tiny', but this run trains 'unet-mobilenet' (--model)"),
    ],
)
def test_train_init_refuses_conflicting_settings_in_one_line(cohort, tmp_path, tiny_model, started, extra, yaml, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml)
    args = ["train", str(cohort), "-o", str(tmp_path / "r"), "--init", str(tiny_model), *extra]
    result = runner.invoke(app, [*args, *(["--config", str(config)] if yaml else [])])
    assert result.exit_code == 1 and not started
    errors = [line for line in result.output.splitlines() if line.strip()]
    assert len(errors) == 1 and message.format(yaml=config) in " ".join(result.output.split()), result.output


def test_fine_tuning_example_with_fewer_epochs_than_the_configs_first_stage(cohort, tmp_path, started):
    """The documented fine-tuning command: configs/embedded.yaml trains 40 epochs on weighted images first; --epochs 30 cuts them."""
    config = Path(__file__).parents[1] / "configs" / "embedded.yaml"
    args = ["train", str(cohort), "-o", str(tmp_path / "r"), "--config", str(config), "--init", "embedded", "--epochs", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (started[0].epochs, started[0].weighted_epochs, started[0].window_spacing_mm) == (30, 30, 1.25)
    result = runner.invoke(app, [*args, "--weighted-epochs", "40"])  # given here: checked as given
    assert result.exit_code == 1 and "got 30 and 40" in result.output and len(started) == 1


def test_library_log_records_stay_off_the_terminal_whatever_they_set_on_import():
    from myomap.cli.app import LibraryFloor

    def passes(name, level):
        return LibraryFloor().filter(logging.LogRecord(name, level, __file__, 1, "message", None, None))

    assert passes("myomap.analyze.run", logging.DEBUG) and passes("myomap", logging.INFO)  # the -v level decides for these
    assert not passes("pydicom", logging.ERROR) and not passes("pydicom.pixels.decoders", logging.ERROR)
    assert not passes("highdicom.seg", logging.WARNING) and passes("highdicom.seg", logging.ERROR)
    assert not passes("matplotlib.font_manager", logging.DEBUG) and not passes("PIL.PngImagePlugin", logging.DEBUG)
    assert not passes("lightning.pytorch", logging.INFO) and passes("lightning.pytorch", logging.WARNING)


def test_a_damaged_image_is_one_error_line_without_library_tracebacks(cohort, tmp_path):
    """pydicom resets its logger's level when imported, after the CLI set it: its ERROR records must not reach the terminal."""
    import subprocess
    import sys

    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    ds = pydicom.dcmread(cohort / "sub-001" / "T1_mid" / "map.dcm")
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51garbage" * 10])  # a J2K marker, then damage: the decoders log tracebacks
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "damaged.dcm", enforce_file_format=True)
    for verbose in ([], ["-v"]):
        out = tmp_path / f"out{len(verbose)}"
        command = [sys.executable, "-m", "myomap", *verbose, "analyze", str(tmp_path / "damaged.dcm"), "-o", str(out), "--keep-phi"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 3, done.stderr  # nothing analysed
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "damaged.dcm" in errors[0], done.stderr
        assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
        assert "Found plugin" not in done.stderr, done.stderr  # pylibjpeg's debug lines stay off -v too


@pytest.mark.slow
def test_train_leaves_out_bad_inputs_with_one_error_line_per_file_and_exit_1(cohort, tmp_path):
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    subject = data / "sub-001"
    contours = json.loads((subject / "T1_basal" / "contours.json").read_text())
    for key in ("epicardial_contours_x", "epicardial_contours_y"):
        contours[key] = contours[key][:2]  # the map and its weighted images share this file: every row naming it fails
    (subject / "T1_basal" / "contours.json").write_text(json.dumps(contours))
    (subject / "T2_mid" / "weighted_2.dcm").write_bytes(b"")
    args = ["train", str(data), "-o", str(tmp_path / "run"), "--model", "unet-resnet18-tiny", "--epochs", "1", "--weighted-epochs", "1"]
    result = runner.invoke(app, [*args, "--input-size", "64", "--batch-size", "8", "--images-per-epoch", "16"])
    assert result.exit_code == 1, result.output  # some inputs failed, as analyze says it
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.output
    assert "T1_basal/contours.json" in errors[0] and "2 points" in errors[0] and "manifest lines " in errors[0]
    assert "weighted_2.dcm" in errors[1] and "manifest line " in errors[1]
    assert (tmp_path / "run" / "model.pt").is_file()  # trained on the rest
