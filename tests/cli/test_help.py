"""``hilbench --help`` speaks to a test engineer: what the bench is, its commands, examples that parse, exit codes."""

from __future__ import annotations

import re
import shlex

import pytest

from hilbench.cli.main import EPILOG, SUBCOMMANDS, build_parser, main


def test_the_help_describes_the_bench_and_every_command_and_exit_code(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Entry point" not in out and "hardware-in-the-loop bench" in out
    assert all(re.search(rf"^\s+{name}\s", out, flags=re.M) for name in SUBCOMMANDS)
    for code in ("0 passed", "1 a verdict failed", "2 bad input", "3 an internal error", "130 interrupted"):
        assert code in out


def test_every_example_of_the_help_parses() -> None:
    examples = [line.split("   ")[0].strip() for line in EPILOG.splitlines() if line.startswith("  hilbench ")]
    assert len(examples) >= 3
    parser = build_parser()
    for example in examples:
        args = parser.parse_args(shlex.split(example)[1:])
        assert args.command in SUBCOMMANDS, example
