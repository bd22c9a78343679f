"""``hilbench run --record x.blf`` ended by SIGINT, SIGTERM or SIGKILL at seeded random instants,
each run in its own process: what was on the bus is in the files, frame for frame.

- SIGINT and SIGTERM: exit 130 (or 0 when the run had ended first), no traceback, the BLF closed
  with its final header, and the BLF and its candump primary each hold exactly the frames the run
  says it put on the bus: the first N frames of an uninterrupted run of the same seed.
- SIGKILL: every file parses; the primary holds the reference's frames up to a flush instant (a
  multiple of the flush interval of simulated time) and nothing after it, so the frames lost are
  those of the last interval at most; the BLF holds a prefix too, with its true start time.

The default run sends each signal :data:`RUNS` times (seeded); ``HILBENCH_SLOW=1`` sends each 100
times and prints the figures.  Signals go at seeded instants spread over the run's wall time,
counted from the line in which the child says it started.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import can
import pytest

import hilbench
from hilbench.bench import DEFAULTS_FILE
from hilbench.bus.recorder import FLUSH_INTERVAL_S, read_recording
from hilbench.clock import wall_time_s
from hilbench.resources import scenarios_dir

SLOW = bool(os.environ.get("HILBENCH_SLOW"))
RUNS = 100 if SLOW else 5
SEED = 12
#: Signals go at instants spread over this multiple of an uninterrupted run's frame-producing
#: window after its start line (a little past it: the end of a run and the verdicts count too).
SPAN = 1.1
SCENARIO = scenarios_dir() / "comms" / "bms_drop_and_delay_sodium_25c.toml"
EPOCH_S = tomllib.loads(DEFAULTS_FILE.read_text())["session"]["epoch_s"]
#: The tree under test (a worktree, or an installed package): the child imports the same hilbench.
SOURCE_ROOT = Path(hilbench.__file__).resolve().parent.parent
STARTED = re.compile(r"^recording to (.+), candump primary (.+) flushed every ([\d.]+) ms$")
INTERRUPTED = re.compile(r"\[INTERRUPTED\]  by (SIG\w+) at ([\d.]+) s of [\d.]+ s simulated, (\d+) frames on the bus")
COMPLETE = re.compile(r"\[(PASS|FAIL)\]  [\d.]+ h simulated, (\d+) frames")


def _spawn(record: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen([sys.executable, "-m", "hilbench.cli.main", "run", "--record", str(record), str(SCENARIO)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_started(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline().rstrip("\n")
    assert STARTED.match(line), f"no start line; got {line!r}; stderr: {proc.stderr.read()}"


def _keys(path: Path) -> list[tuple]:
    """Every frame as (time, id, extended, FD, BRS, direction, data): all both formats keep."""
    return [(round(m.timestamp, 5), m.arbitration_id, m.is_extended_id, m.is_fd, m.bitrate_switch, m.is_rx,
             bytes(m.data)) for m in read_recording(path)]


@dataclass
class Reference:
    frames: list[tuple]
    run_wall_s: float          # from the start line until the last frame reached the primary


#: How often the reference run's primary is looked at, to time its frame-producing window.
POLL_S = 0.005


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    """An uninterrupted run, twice: its frames, and the shorter of the two windows from the start
    line to the moment the primary reached its final size (building the bench and running it;
    judging and printing come after, where a signal can only change the exit code)."""
    windows = []
    for _ in range(2):
        record = tmp_path_factory.mktemp("reference") / "whole.blf"
        primary = record.with_suffix(".log")
        proc = _spawn(record)
        _wait_started(proc)
        started = wall_time_s()
        sizes: list[tuple[float, int]] = []
        while proc.poll() is None:
            sizes.append((wall_time_s() - started, primary.stat().st_size if primary.exists() else 0))
            try:
                proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
        final = primary.stat().st_size
        windows.append(next((t for t, size in sizes if size == final), sizes[-1][0]))
        frames = _keys(primary)
        assert _keys(record) == frames
        assert int(COMPLETE.search(out).group(2)) == len(frames) > 10_000
    return Reference(frames, min(windows))


@dataclass
class Tally:
    """What a set of runs showed, for the summary printed under HILBENCH_SLOW."""

    signal: str
    runs: int = 0
    interrupted: int = 0
    ended_first: int = 0
    after_run: int = 0         # the signal came after the run's last frame (verdicts printed, or exiting)
    no_files: int = 0
    frames: list[int] = field(default_factory=list)
    blf_behind: list[int] = field(default_factory=list)

    def line(self) -> str:
        frames = sorted(self.frames) or [0]
        text = (f"{self.signal}: {self.runs} runs, {self.interrupted} interrupted mid-run, {self.ended_first} ended "
                f"before the signal, {self.after_run} signalled after the run's last frame, {self.no_files} "
                f"before the recording opened; frames in the files "
                f"min {frames[0]} median {frames[len(frames) // 2]} max {frames[-1]}")
        if self.blf_behind:
            behind = sorted(self.blf_behind)
            text += (f"; BLF behind its primary by min {behind[0]} median {behind[len(behind) // 2]} "
                     f"max {behind[-1]} frames (negative: ahead)")
        return text


def _instants(signum: int, span_s: float) -> list[float]:
    rng = random.Random(SEED * 1000 + signum)
    return [rng.uniform(0.0, span_s) for _ in range(RUNS)]


def _signal_at(proc: subprocess.Popen, signum: int, delay_s: float) -> bool:
    """Send ``signum`` ``delay_s`` after the start line, unless the child has ended by then."""
    try:
        proc.wait(timeout=delay_s)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signum)
        return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_loses_no_frame(tmp_path: Path, reference: Reference, signum: int) -> None:
    tally = Tally(signal.Signals(signum).name)
    for run, delay_s in enumerate(_instants(signum, reference.run_wall_s * SPAN)):
        record = tmp_path / f"run{run:03d}.blf"
        proc = _spawn(record)
        try:
            _wait_started(proc)
            sent = _signal_at(proc, signum, delay_s)
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        where = f"run {run} ({tally.signal} {delay_s:.3f} s after the start line)"
        assert "Traceback" not in out + err, f"{where}:\n{out}\n{err}"
        head = INTERRUPTED.search(out)
        if head is not None:
            assert sent and proc.returncode == 130 and head.group(1) == tally.signal, f"{where}:\n{out}\n{err}"
            assert f"interrupted by {tally.signal}: " in out
            on_bus = int(head.group(3))
            tally.interrupted += 1
        else:
            whole = COMPLETE.search(out)
            assert whole is not None, f"{where}:\n{out}\n{err}"
            on_bus = int(whole.group(2))
            if not sent:
                assert proc.returncode == 0, f"{where}:\n{out}"
                tally.ended_first += 1
            elif f"interrupted by {tally.signal}" in out:   # came while the verdicts were printed
                assert proc.returncode == 130, f"{where}:\n{out}"
                tally.after_run += 1
            else:
                # Came once the command was done, its files closed: in main() (130, 'interrupted' on
                # stderr), or while the interpreter shut down, which puts the default handlers back
                # (killed by the signal, which a shell reports as 128 + its number too).
                assert proc.returncode in (0, 130, -signum), f"{where}: exit {proc.returncode}\n{out}\n{err}"
                tally.after_run += 1
        blf, log = _keys(record), _keys(record.with_suffix(".log"))
        assert len(blf) == len(log) == on_bus, f"{where}: bus {on_bus}, BLF {len(blf)}, log {len(log)}"
        assert blf == log == reference.frames[:on_bus], f"{where}: not the frames of the bus"
        assert f"recording {record}: {on_bus} frames; {record.with_suffix('.log')}: {on_bus} frames" in out
        with can.BLFReader(str(record)) as reader:
            assert reader.file_size == record.stat().st_size, f"{where}: BLF not closed with its header"
        tally.runs += 1
        tally.frames.append(on_bus)
    print(f"\n{tally.line()}")
    assert tally.runs == RUNS
    assert tally.interrupted >= max(1, RUNS // 3)      # the instants fall mostly inside the run


def _flush_instant_between(t_last: float | None, t_next: float) -> bool:
    """Is there a flush instant (k x interval, k >= 1) in [t_last, t_next] (simulated seconds)?
    With nothing on disk (``t_last`` None) the kill came before the first flush."""
    if t_last is None:
        return True
    k = math.floor((t_next + 1e-6) / FLUSH_INTERVAL_S)
    return k >= 1 and k * FLUSH_INTERVAL_S >= t_last - 1e-6


def test_a_killed_run_loses_at_most_the_flush_interval(tmp_path: Path, reference: Reference) -> None:
    tally = Tally("SIGKILL")
    times = [frame[0] - EPOCH_S for frame in reference.frames]
    for run, delay_s in enumerate(_instants(signal.SIGKILL, reference.run_wall_s * SPAN)):
        record = tmp_path / f"kill{run:03d}.blf"
        proc = _spawn(record)
        try:
            _wait_started(proc)
            sent = _signal_at(proc, signal.SIGKILL, delay_s)
            proc.communicate(timeout=120)
        finally:
            proc.kill()
        where = f"run {run} (SIGKILL {delay_s:.3f} s after the start line)"
        tally.runs += 1
        if not sent:
            tally.ended_first += 1
        if not record.exists():
            assert not record.with_suffix(".log").exists(), where
            tally.no_files += 1
            continue
        primary = record.with_suffix(".log")   # opened right after the BLF: a kill may fall between
        blf, log = _keys(record), _keys(primary) if primary.exists() else []   # every file parses
        assert log == reference.frames[:len(log)], f"{where}: the primary is not a prefix of the bus"
        assert blf == reference.frames[:len(blf)], f"{where}: the BLF is not a prefix of the bus"
        # The BLF reaches the disk a container at a time, whenever one fills: up to a container behind
        # the primary, or a few frames ahead of it (a container filled since the primary's last flush).
        if len(log) < len(reference.frames):
            t_last = times[len(log) - 1] if log else None
            assert _flush_instant_between(t_last, times[len(log)]), \
                f"{where}: the primary ends at {t_last} s, not on a flush before {times[len(log)]} s"
            tally.interrupted += 1
        elif sent:
            tally.after_run += 1
        tally.frames.append(len(log))
        tally.blf_behind.append(len(log) - len(blf))
    print(f"\n{tally.line()}")
    assert tally.runs == RUNS
    assert tally.interrupted >= max(1, RUNS // 3)


def _main_imports_lazily() -> bool:
    """Does importing the CLI's entry point leave the scenarios unimported (so that ``main()`` can
    take over SIGINT before the heavy imports)?"""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p)
    probe = subprocess.run([sys.executable, "-c", "import sys, hilbench.cli.main; "
                            "print('hilbench.scenarios' in sys.modules)"], capture_output=True, text=True, env=env)
    return probe.stdout.strip() == "False"


#: Signals during start-up go no earlier than this fraction of it: the interpreter's own start and
#: the import of the entry point come before any handler of ours can be installed.
START_UP_FROM = 0.25


def test_sigint_during_start_up_gives_no_traceback(tmp_path: Path) -> None:
    if not _main_imports_lazily():
        pytest.skip("hilbench/cli/main.py imports every subcommand (and so the bench) before main() runs: Ctrl-C "
                    "during those imports is Python's KeyboardInterrupt, with its traceback; the change that fixes "
                    "it is described in docs/recordings.md")
    probe = tmp_path / "probe.blf"
    began = wall_time_s()
    proc = _spawn(probe)
    _wait_started(proc)
    start_up_s = wall_time_s() - began
    proc.kill()
    proc.communicate()
    rng = random.Random(SEED)
    for run in range(RUNS):
        record = tmp_path / f"early{run:03d}.blf"
        delay_s = rng.uniform(START_UP_FROM, 1.0) * start_up_s
        proc = _spawn(record)
        try:
            sent = _signal_at(proc, signal.SIGINT, delay_s)
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        where = f"SIGINT {delay_s:.3f} s after the start"
        assert sent, where
        assert proc.returncode == 130 and "Traceback" not in out + err, f"{where}: exit {proc.returncode}\n{out}\n{err}"
        if record.exists():
            frames = len(_keys(record))
            assert frames == len(_keys(record.with_suffix(".log"))), where


RESULT = re.compile(r"^(\S+)  \[(PASS|FAIL|INTERRUPTED)\]  .*?(\d+) frames(?: on the bus)?$", re.M)
RECORDED = re.compile(r"^  recording (\S+): (\d+) frames; (\S+): (\d+) frames$", re.M)
SUMMARY = re.compile(r"interrupted by SIGINT: (\d+) passed, (\d+) failed, (\d+) interrupted \(partial verdicts\), "
                     r"(\d+) not run")


def test_ctrl_c_to_a_parallel_run_keeps_every_workers_frames(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the workers leave it to the parent, which stops them
    all through a shared flag; every scenario that started is shown, its files hold its frames."""
    # Three folders (21 scenarios, several seconds on 2 workers), so that the interrupt 2 s after the
    # start always finds scenarios not yet started, on a fast machine too (one folder could finish first).
    folders = [scenarios_dir() / name for name in ("comms", "battery", "thermal")]
    record = tmp_path / "par.blf"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen([sys.executable, "-m", "hilbench.cli.main", "run", "-j", "2", "--record", str(record),
                             *map(str, folders)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        _wait_started(proc)
        try:
            proc.wait(timeout=2.0)        # the workers are into their first scenarios by then
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.returncode is None:   # a timeout: end the group and close the pipes (no warnings for later tests)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130 and "Traceback" not in out + err, out + err
    planned = sum(len(list(folder.glob("*.toml"))) for folder in folders)
    summary = SUMMARY.search(out)
    assert summary and sum(map(int, summary.groups())) == planned, out
    assert int(summary.group(4)) >= 1, out   # stopped mid-suite (the running ones interrupted, or just done)
    shown = RESULT.findall(out)
    recorded = RECORDED.findall(out)
    assert len(shown) == len(recorded) == planned - int(summary.group(4)), out
    for (name, verdict, on_bus), (blf, blf_n, log, log_n) in zip(shown, recorded):
        assert int(blf_n) == int(log_n) == int(on_bus), (name, verdict)
        assert _keys(Path(blf)) == _keys(Path(log)), name
    written = {p.name for p in tmp_path.glob("par-*.blf")}
    assert written == {Path(blf).name for blf, *_ in recorded}   # nothing of the scenarios that did not run
