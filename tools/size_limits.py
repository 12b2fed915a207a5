"""Print every function over 60 lines of code and every module over 400 in a source tree.

A line of code is a line that holds something other than blank space, a
comment or a docstring.  A function's lines are those of its body: the
signature (one line per parameter once formatted, as in a command with
many options) is its interface, not its logic.  A function or module that must stay longer says
why in a comment ``# size: <reason>`` on the line above its ``def`` (for a
module: anywhere among its first lines of comments); it is then listed as
explained and does not fail the check.

Usage: python tools/size_limits.py [SRC ...]   (default: src)
Exit status: 0 when nothing unexplained is over a limit, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
_REASON = "# size:"


def _non_code_lines(text: str, tree: ast.Module) -> set[int]:
    """Line numbers (1-based) that hold only a comment, a docstring or nothing."""
    code: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        code.update(range(token.start[0], token.end[0] + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                code.difference_update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return set(range(1, text.count("\n") + 2)) - code


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _reason(lines: list[str], line_no: int) -> str | None:
    """The ``# size:`` reason on the line above ``line_no`` (1-based), if any."""
    above = lines[line_no - 2].strip() if line_no >= 2 else ""
    return above[len(_REASON) :].strip() if above.startswith(_REASON) else None


def check_file(path: Path) -> list[tuple[str, bool]]:
    """Findings for one file: (message, explained)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    lines = text.splitlines()
    blank = _non_code_lines(text, tree)
    findings = []
    n_module = len(lines) + 1 - len(blank)
    if n_module > MAX_MODULE_LINES:
        head = [line.strip() for line in lines[:30] if line.strip().startswith(_REASON)]
        why = head[0][len(_REASON) :].strip() if head else None
        findings.append(
            (f"{path}: module has {n_module} lines of code (limit {MAX_MODULE_LINES})" + (f"; why: {why}" if why else ""), why is not None)
        )
    for node in _functions(tree):
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        n = sum(1 for k in range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1) if k not in blank)
        if n > MAX_FUNCTION_LINES:
            why = _reason(lines, start)
            message = f"{path}:{node.lineno}: function {node.name} has {n} lines of code (limit {MAX_FUNCTION_LINES})"
            findings.append((message + (f"; why: {why}" if why else ""), why is not None))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", type=Path, default=[Path("src")])
    args = parser.parse_args(argv)
    failed = 0
    for root in args.roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            for message, explained in check_file(path):
                print(("explained: " if explained else "") + message)
                failed += not explained
    print(f"{failed} unexplained over the limits (functions > {MAX_FUNCTION_LINES}, modules > {MAX_MODULE_LINES} lines of code)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
