"""``myomap analyze`` safe by default (issue 15): PHI canaries, peak memory against cohort size, killed runs.

Prints three figures:

- **PHI canaries**: hits of every canary (PS3.15 Annex E attributes, private
  tags, a patient-named folder; see :mod:`myomap.analyze.canary`) in every
  byte and file name of the output and in the console output of
  ``myomap -v analyze`` on a canary exam, with and without SEG (and with
  ``--keep-dates``, dates excepted).  Target: 0.
- **Peak RSS** of ``analyze`` on 10 and on 100 phantom subjects, each run in
  its own process (``ru_maxrss``, median of ``--repeats`` runs), and their
  ratio.  Target: within 15 %.
- **Kill test**: ``--trials`` runs of ``myomap analyze`` on a small cohort,
  each sent SIGTERM or SIGINT (alternately) at a random moment of the run,
  then finished with ``--resume``.  Counts: no temporary file left,
  ``run.json`` says ``incomplete``, the resume exits 0 and says
  ``complete``, and every output file (``run.json`` aside) is byte-identical
  to an uninterrupted run's.

Usage: python benchmarks/safety.py [--work DIR] [--subjects 100] [--trials 10] [--repeats 1] [--seed 0]
(several minutes on two CPU cores; the cohort is simulated once into DIR and reused).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MYOMAP = [sys.executable, "-m", "myomap"]
RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from myomap.analyze.settings import AnalyzeConfig
from myomap.report.analysis import analyze
subjects = sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "T1_mid").is_dir())[: int(sys.argv[2])]
result = analyze(subjects, sys.argv[3], AnalyzeConfig())
print(result.analysed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def simulate(folder: Path, subjects: int, seed: int) -> Path:
    if not (folder / "manifest.csv").is_file() or len([p for p in folder.iterdir() if p.name.startswith("sub-")]) < subjects:
        subprocess.run(
            [*MYOMAP, "simulate", str(folder), "--subjects", str(subjects), "--seed", str(seed), "--overwrite"],
            check=True,
            capture_output=True,
        )
    return folder


def canaries(cohort: Path, work: Path) -> None:
    from myomap.analyze.canary import canary_hits, write_canary_exam

    exam = write_canary_exam(sorted(p for p in cohort.iterdir() if p.name.startswith("sub-"))[0], work / "canary-in")
    for name, extra in (("with SEG", []), ("without SEG", ["--no-seg"]), ("--keep-dates (dates not counted)", ["--keep-dates"])):
        out = work / f"canary-out-{len(extra)}-{'-'.join(extra)}"
        shutil.rmtree(out, ignore_errors=True)
        run = subprocess.run([*MYOMAP, "-v", "analyze", str(exam), "-o", str(out), *extra], capture_output=True, text=True)
        hits = canary_hits(out, run.stdout + run.stderr, dates="--keep-dates" not in extra)
        files = sum(1 for p in out.rglob("*") if p.is_file())
        print(
            f"PHI canaries {name}: {len(hits)} hit(s) in {files} output files and the console (exit {run.returncode})"
            + (f": {hits[:5]}" if hits else "")
        )


def peak_rss(cohort: Path, work: Path, counts: tuple[int, ...], repeats: int) -> None:
    peaks = {}
    for n in counts:
        values = []
        for k in range(repeats):
            out = work / f"rss-{n}-{k}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", RSS_SCRIPT, str(cohort), str(n), str(out)], capture_output=True, text=True, check=True
            )
            analysed, kib = (int(v) for v in done.stdout.split()[-2:])
            values.append(kib / 1024)
            print(f"  {n} subjects ({analysed} maps analysed): peak RSS {kib / 1024:.0f} MiB in {time.perf_counter() - start:.0f} s")
            shutil.rmtree(out, ignore_errors=True)
        peaks[n] = statistics.median(values)
    small, large = peaks[counts[0]], peaks[counts[-1]]
    print(
        f"Peak RSS: {small:.0f} MiB for {counts[0]} subjects, {large:.0f} MiB for {counts[-1]} (median of {repeats}); ratio {large / small:.3f} (target <= 1.15)"
    )


def _hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def _status(out: Path) -> str:
    try:
        return json.loads((out / "run.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "missing"


def _wait_for_run(out: Path, since: float) -> float:
    """Seconds until the run has written its run.json (imports and model loading done)."""
    while not (out / "run.json").is_file() and time.perf_counter() - since < 300:
        time.sleep(0.05)
    return time.perf_counter() - since


def kill_test(cohort: Path, work: Path, trials: int, seed: int) -> None:
    inputs = sorted(str(p) for p in cohort.iterdir() if p.name.startswith("sub-"))[:3]
    reference = work / "kill-reference"
    shutil.rmtree(reference, ignore_errors=True)
    process = subprocess.Popen([*MYOMAP, "analyze", *inputs, "-o", str(reference)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    startup = _wait_for_run(reference, time.perf_counter())
    start = time.perf_counter()
    if process.wait() != 0:
        raise SystemExit("the uninterrupted reference run failed")
    duration = time.perf_counter() - start  # from run.json written (the run under way) to the end
    expected = _hashes(reference)
    rng = random.Random(seed)
    tally = {"no stray temp file": 0, "run.json incomplete": 0, "resume complete (exit 0)": 0, "identical outputs": 0}
    for trial in range(trials):
        out = work / f"kill-{trial}"
        shutil.rmtree(out, ignore_errors=True)
        sent = signal.SIGTERM if trial % 2 == 0 else signal.SIGINT
        delay = rng.uniform(0.0, 0.7) * duration  # the run's speed varies with the machine's load: leave a margin
        process = subprocess.Popen([*MYOMAP, "analyze", *inputs, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_run(out, time.perf_counter())
        time.sleep(delay)
        running = process.poll() is None
        process.send_signal(sent)
        code = process.wait()
        strays = [p for p in out.rglob("*.partial-*")] if out.exists() else []
        status = _status(out)
        resumed = subprocess.run([*MYOMAP, "analyze", *inputs, "-o", str(out), "--resume"], capture_output=True)
        same = _hashes(out) == expected
        results = (not strays, status == "incomplete", resumed.returncode == 0 and _status(out) == "complete", same)
        for key, ok in zip(tally, results):
            tally[key] += ok
        late = "" if running else " (the run had already ended)"
        print(
            f"  trial {trial + 1}: {signal.Signals(sent).name} after {delay:.1f} s{late} (exit {code}); strays {len(strays)}, run.json {status}, resume exit {resumed.returncode}, identical {same}"
        )
        shutil.rmtree(out, ignore_errors=True)
    print(
        f"Kill test ({trials} trials at random moments of a {duration:.0f} s run, after {startup:.0f} s of start-up): "
        + ", ".join(f"{k} {v}/{trials}" for k, v in tally.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the cohort and the runs (default: a temporary one)")
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="myomap-safety-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    cohort = simulate(work / "cohort", args.subjects, args.seed)
    canaries(cohort, work)
    kill_test(cohort, work, args.trials, args.seed)
    peak_rss(cohort, work, (10, args.subjects), args.repeats)


if __name__ == "__main__":
    main()
