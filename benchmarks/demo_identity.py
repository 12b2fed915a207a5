"""Are the outputs of ``myomap demo`` byte-identical between two revisions of the code?

Runs ``myomap demo`` once for each revision, each from its own temporary
``git worktree`` (``--head`` defaults to the working tree as it is, with
uncommitted changes), with ``PYTHONPATH`` pointing at that tree's ``src``
so that the installed copy of myomap is not used. Then it compares every
file the two runs wrote by SHA-256, prints one table row per file and
exits non-zero on any difference (a file that differs, or is written by
only one run). Refactors that must not change behaviour are checked with
it (issue 11).

The one deliberate exception: ``run.json`` records when the run started
and finished (``started``, ``finished``); those two values are blanked
before hashing it, every other byte counts.

Usage:
    python benchmarks/demo_identity.py [--base main] [--head REV] [--subjects 3] [--seed 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def checkout(rev: str, where: Path) -> Path:
    """A detached worktree of ``rev`` at ``where`` (removed again by :func:`remove_checkout`)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(where), rev], check=True)
    return where


def remove_checkout(where: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)], check=False)


def run_demo(tree: Path, work: Path, keep_as: str, subjects: int, seed: int) -> Path:
    """``myomap demo`` with ``tree/src`` first on the path, into ``work/demo``, then renamed to ``work/keep_as``.

    Both runs write to the same path: the outputs name their input paths
    (``slices.csv``) and derive de-identified UIDs from them, so two
    different output folders would differ for that reason alone.  A
    failing demo (exit 1) still leaves outputs to compare.
    """
    out = work / "demo"
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), PYTHONHASHSEED="0")
    command = [sys.executable, "-m", "myomap", "demo", "-o", str(out), "--subjects", str(subjects), "--seed", str(seed)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode not in (0, 1) or not out.is_dir():
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"myomap demo failed in {tree} (exit {done.returncode})")
    return out.rename(work / keep_as)


_RUN_TIMES = re.compile(rb'("(?:started|finished)"\s*:\s*)"[^"]*"')


def digests(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``, keyed by its path relative to ``root`` (``run.json`` without its two times)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "run.json":
            data = _RUN_TIMES.sub(rb'\1""', data)
        out[path.relative_to(root).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def compare(base: dict[str, str], head: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Rows (file, base digest, head digest, verdict) over the union of both runs' files."""
    rows = []
    for name in sorted(set(base) | set(head)):
        a, b = base.get(name, "-"), head.get(name, "-")
        verdict = "same" if a == b else ("only in base" if b == "-" else "only in head" if a == "-" else "DIFFERS")
        rows.append((name, a[:12], b[:12], verdict))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision to compare against (default: main)")
    parser.add_argument("--head", default=None, help="git revision to compare (default: the working tree, uncommitted changes included)")
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="keep both demo outputs under this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo-identity-") as tmp:
        work = args.keep or Path(tmp)
        base_tree = checkout(args.base, Path(tmp) / "base-tree")
        head_tree = checkout(args.head, Path(tmp) / "head-tree") if args.head else REPO
        try:
            base = run_demo(base_tree, work, "base", args.subjects, args.seed)
            head = run_demo(head_tree, work, "head", args.subjects, args.seed)
        finally:
            remove_checkout(base_tree)
            if args.head:
                remove_checkout(head_tree)
        rows = compare(digests(base), digests(head))
    width = max(len(r[0]) for r in rows)
    print(f"{'file':<{width}}  {'base':<12}  {'head':<12}  verdict")
    for name, a, b, verdict in rows:
        print(f"{name:<{width}}  {a:<12}  {b:<12}  {verdict}")
    different = [r for r in rows if r[3] != "same"]
    head_name = args.head or "working tree"
    print(f"\n{len(rows)} files, {len(rows) - len(different)} identical, {len(different)} different ({args.base} vs {head_name})")
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
