import csv

from typer.testing import CliRunner

from myomap.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "simulate" in result.output and "import-paper" in result.output


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
