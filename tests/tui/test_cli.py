"""``hilbench tui``: registered, lazy about Textual, and refusing bad input before any screen opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hilbench.cli.main import main


def test_importing_the_cli_does_not_import_textual() -> None:
    code = "import sys, hilbench.cli.main\nprint('textual' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_tui_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tui", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "? or F1 lists them all" in out and "--interface" in out and "--no-dut" in out and "--scenarios" in out


def test_a_bad_scenario_is_one_error_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "bad"\nduration = "1h"\n\n[[steps]]\nat = "1s"\naction = "warp"\n')
    assert main(["tui", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.toml" in err and len(err.strip().splitlines()) == 1


def test_an_unknown_speed_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tui", "--speed", "7"])
    assert exc.value.code == 2
    assert "speed must be one of" in capsys.readouterr().err
