"""The ``myomap`` command line: a thin layer that parses, calls the API and reports.

The commands live in the modules of this package and are registered here,
in the order ``--help`` lists them.
"""

from myomap.cli.analysis import analyze
from myomap.cli.app import app
from myomap.cli.data import fit, import_contours, import_labels, import_paper, simulate
from myomap.cli.study import demo, evaluate
from myomap.cli.training import average_models_command, export_onnx_command, train

app.command()(simulate)
app.command()(fit)
app.command()(train)
app.command("export-onnx")(export_onnx_command)
app.command("average-models")(average_models_command)
app.command("import-paper")(import_paper)
app.command("import-labels")(import_labels)
app.command("import-contours")(import_contours)
app.command()(analyze)
app.command()(evaluate)
app.command()(demo)

__all__ = ["app", "main"]


def main() -> None:
    app()
