"""An output a command writes at its end is checked before it starts: a long run never ends in a lost result."""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.cli.main import main
from hilbench.cli.output_paths import check_writable, write_text
from hilbench.errors import ConfigError
from hilbench.scenarios import bundled_scenarios_dir

SHORT = str(bundled_scenarios_dir() / "vehicle" / "shift_to_drive_lfp_-20c.toml")


@pytest.mark.parametrize("command", [
    ["faults", "matrix", "-n", "1", "-j", "1", "--mode", "loss", "--message", "VCU_VehicleStatus", "--json"],
    ["defects", "-j", "1", "--defect", "ignore_gear", SHORT, "--markdown"],
])
@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_an_output_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path, capsys, command: list[str],
                                                                     where: str) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "out.txt" if where == "under-a-file" else tmp_path
    assert main([*command, str(target)]) == 2
    captured = capsys.readouterr()
    assert str(target) in captured.err and ("folder cannot be made" in captured.err or "is a folder" in captured.err)
    assert "Traceback" not in captured.err and captured.out.count("\n") <= 1   # nothing ran


def test_the_folder_is_made_and_a_write_that_fails_at_the_end_is_bad_input_naming_the_option(tmp_path: Path) -> None:
    check_writable(tmp_path / "out" / "x.json", "--json")
    assert (tmp_path / "out").is_dir()
    with pytest.raises(ConfigError, match="--json.*cannot be written"):
        write_text(tmp_path / "gone" / "x.json", "--json", "{}")
    assert write_text(tmp_path / "out" / "x.json", "--json", "{}").read_text() == "{}"


def test_run_refuses_a_junit_path_under_a_file_before_the_run(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("")
    assert main(["run", SHORT, "--junit", str(tmp_path / "file" / "r.xml")]) == 2
    captured = capsys.readouterr()
    assert "--junit" in captured.err and "PASS" not in captured.out
