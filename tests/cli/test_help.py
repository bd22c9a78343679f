"""``hilbench --help`` speaks to a test engineer: what the bench is, its commands, examples that parse, exit codes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

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


@pytest.mark.parametrize(("argv", "imported"), [
    (["--help"], set()),
    (["run", "--help"], {"run"}),
    (["faults", "matrix", "--help"], {"faults"}),
    (["--debug", "tui", "--help"], {"tui"}),
])
def test_only_the_named_subcommand_is_imported(argv: list[str], imported: set[str]) -> None:
    """``hilbench --help`` imports no subcommand; ``hilbench COMMAND`` imports only COMMAND's module."""
    code = ("import sys\n"
            "from hilbench.cli.main import main, SUBCOMMANDS\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit:\n"
            "    pass\n"
            "print('LOADED:' + ','.join(sorted(n for n in SUBCOMMANDS if 'hilbench.cli.' + n in sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.rpartition("LOADED:")[2].strip()
    assert set(filter(None, loaded.split(","))) == imported
