"""Importing myomap leaves the user's matplotlib backend alone (a notebook keeps its inline figures)."""

import subprocess
import sys

CHECK = """
import importlib, pkgutil
import matplotlib
matplotlib.use("svg")
import myomap
for module in pkgutil.walk_packages(myomap.__path__, "myomap."):
    if module.name != "myomap.__main__":
        importlib.import_module(module.name)
print(matplotlib.get_backend())
"""


def test_no_module_switches_the_matplotlib_backend_at_import():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert done.stdout.strip().lower() == "svg"
