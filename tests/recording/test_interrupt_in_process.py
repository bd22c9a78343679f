"""A signal that lands inside python-can's BLF writer, between compressing a container and writing
it (where ``KeyboardInterrupt`` used to lose the whole container), ends the run between two tasks:
the BLF, its candump primary and the bus agree frame for frame, and the command exits 130."""

from __future__ import annotations

import os
import re
import signal
import zlib
from pathlib import Path

import can.io.blf
import pytest

from hilbench.bus.recorder import read_recording
from hilbench.cli.main import main
from hilbench.resources import scenarios_dir

SCENARIO = scenarios_dir() / "comms" / "bms_drop_and_delay_sodium_25c.toml"
#: Frames in one BLF container of the bench's traffic (128 KiB of 48-byte CAN objects, FD frames larger).
CONTAINER_FRAMES = 2_000


@pytest.fixture(autouse=True)
def _handlers_restored():
    """main() installs a SIGTERM handler for the commands that do not record; put the test process's back."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


class _SignalInsideCompress:
    """Stands in for ``zlib`` in python-can's BLF module: the n-th container's compression sends a
    signal to this process, so the handler runs inside ``BLFWriter._flush``, before the container
    is written."""

    def __init__(self, signum: int, at_container: int) -> None:
        self.signum = signum
        self.at_container = at_container
        self.containers = 0

    def compress(self, data, level=-1):
        self.containers += 1
        if self.containers == self.at_container:
            os.kill(os.getpid(), self.signum)
        return zlib.compress(data, level)

    def decompressobj(self, *args):
        return zlib.decompressobj(*args)


def _keys(path: Path) -> list[tuple]:
    return [(round(m.timestamp, 5), m.arbitration_id, m.is_rx, bytes(m.data)) for m in read_recording(path)]


@pytest.mark.parametrize("signum, at_container", [(signal.SIGINT, 1), (signal.SIGTERM, 3)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_inside_the_blf_writer_loses_no_frame(tmp_path: Path, monkeypatch, capsys, signum: int,
                                                       at_container: int) -> None:
    fake = _SignalInsideCompress(signum, at_container)
    monkeypatch.setattr(can.io.blf, "zlib", fake)
    record = tmp_path / "cut.blf"
    assert main(["run", "--record", str(record), str(SCENARIO)]) == 130
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert fake.containers >= at_container
    name = signal.Signals(signum).name
    head = re.search(rf"\[INTERRUPTED\]  by {name} at ([\d.]+) s of 90 s simulated, (\d+) frames on the bus", out.out)
    assert head, out.out
    on_bus = int(head.group(2))
    assert at_container * CONTAINER_FRAMES < on_bus < 18_000       # stopped soon after, not at the end
    blf, log = _keys(record), _keys(record.with_suffix(".log"))
    assert len(blf) == len(log) == on_bus and blf == log
    assert f"recording {record}: {on_bus} frames; {record.with_suffix('.log')}: {on_bus} frames" in out.out
    assert re.search(rf"interrupted by {name}: 0 passed, 0 failed, 1 interrupted \(partial verdicts\), 0 not run",
                     out.out)
    assert "partial verdicts: the checks were judged over 0-" in out.out
    with can.BLFReader(str(record)) as reader:
        assert reader.file_size == record.stat().st_size             # closed: the final header is written


def test_a_signal_during_start_up_ends_the_run_before_it_starts_without_a_traceback(tmp_path: Path, monkeypatch,
                                                                                     capsys) -> None:
    import hilbench.cli.run as run_cmd

    real_load = run_cmd.load_scenario

    def load_and_get_interrupted(path):
        scenario = real_load(path)
        os.kill(os.getpid(), signal.SIGINT)    # Ctrl-C while the files load
        return scenario

    monkeypatch.setattr(run_cmd, "load_scenario", load_and_get_interrupted)
    record = tmp_path / "never.blf"
    assert main(["run", "--record", str(record), str(SCENARIO)]) == 130
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "interrupted by SIGINT before the first scenario started: nothing ran, nothing recorded" in out.err
    assert not record.exists() and not record.with_suffix(".log").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # the run's handlers are gone again


def test_a_run_not_interrupted_prints_its_recording_and_passes(tmp_path: Path, capsys) -> None:
    record = tmp_path / "whole.blf"
    assert main(["run", "--record", str(record), str(SCENARIO)]) == 0
    out = capsys.readouterr().out
    frames = int(re.search(r"\[PASS\]  0.03 h simulated, (\d+) frames", out).group(1))
    assert f"recording {record}: {frames} frames; {record.with_suffix('.log')}: {frames} frames" in out
    assert out.startswith(f"recording to {record}, candump primary {record.with_suffix('.log')} flushed every 100 ms")
