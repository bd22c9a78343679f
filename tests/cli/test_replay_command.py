"""``hilbench replay FILE``: a recording into a fresh compute unit (its decisions against the recorded
ones), and onto a bus as a node through the emulated adapter in another process (issue 15)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import cantools
import pytest

from hilbench.resources import dbc_dir

from _adapters import HILBENCH, NO_PAUSE, SCENARIO, emulator


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The short owner-consent scenario, recorded in simulated time (candump .log)."""
    path = tmp_path_factory.mktemp("replay") / "session.log"
    done = subprocess.run([*HILBENCH, "run", "--record", str(path), str(SCENARIO)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HILBENCH, "replay", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **NO_PAUSE})


def test_a_recorded_session_replays_clean_into_a_fresh_unit_with_the_same_decisions_every_time(session: Path) -> None:
    first, second = _replay(str(session), "--digest"), _replay(str(session), "--digest")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "clean replay" in first.stdout and "0 disagree" in first.stdout
    digest = re.search(r"decisions sha256 ([0-9a-f]{64})", first.stdout)
    assert digest is not None and digest.group(0) in second.stdout


def test_a_recording_missing_two_seconds_of_the_bms_is_not_a_clean_replay(session: Path, tmp_path: Path) -> None:
    db = cantools.database.load_file(str(dbc_dir() / "hilbench.dbc"))
    bms_ids = {f"{m.frame_id:03X}" for m in db.messages if m.name.startswith("BMS_")}
    lines = session.read_text().splitlines()
    start = float(lines[0].split()[0].strip("()"))

    def dropped(line: str) -> bool:
        t_s = float(line.split()[0].strip("()")) - start
        return line.split()[2].split("#")[0] in bms_ids and 5.0 <= t_s < 7.0

    kept = [line for line in lines if not dropped(line)]
    assert len(kept) < len(lines)
    cut = tmp_path / "cut.log"
    cut.write_text("\n".join(kept) + "\n")
    done = _replay(str(cut))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT clean" in done.stdout and "disagree" in done.stdout


def test_a_recording_plays_onto_a_bus_filtered_by_node_through_the_emulated_adapter(session: Path) -> None:
    """The BMS's frames of the recording, at 4x, onto python-can's slcan client; the adapter, in its own
    process, counts exactly those frames reaching its bus."""
    db = cantools.database.load_file(str(dbc_dir() / "hilbench.dbc"))
    bms_ids = {f"{m.frame_id:03X}" for m in db.messages if m.name.startswith("BMS_")}
    expected = sum(1 for line in session.read_text().splitlines() if line.split()[2].split("#")[0] in bms_ids)
    with emulator("slcan-emulator", "--emulate", "cu") as adapter:
        done = _replay(str(session), "--interface", "slcan", "--channel", adapter.first_line, "--bitrate", "500000",
                       "--node", "bms", "--speed", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{expected} frame(s) sent" in done.stdout
    span = re.search(r"over ([0-9.]+) recorded s", done.stdout)
    assert span is not None and 19.0 <= float(span.group(1)) <= 20.0, done.stdout
    to_bus = int(adapter.stderr.split(" frame(s) to the bus")[0].rsplit(" ", 1)[-1])
    assert to_bus == expected, adapter.stderr


def test_bad_replay_arguments_exit_2_naming_the_option(session: Path, tmp_path: Path) -> None:
    for args, entry in (([str(tmp_path / "none.log")], "no such recording"),
                        ([str(session), "--node", "bms"], "--node"),
                        ([str(session), "--interface", "slcan", "--channel", "x", "--ids", "0xZZ"], "--ids"),
                        ([str(session), "--interface", "slcan", "--channel", "x", "--speed", "0"], "--speed"),
                        ([str(session), "--interface", "slcan", "--channel", "x", "--speed", "inf"], "--speed"),
                        ([str(session), "--interface", "virtual", "--channel", "x"], "--interface"),
                        ([str(session), "--interface", "slcan", "--channel", "x", "--digest"], "--digest"),
                        ([str(session), "--speed", "2"], "--speed")):
        done = _replay(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert entry in done.stderr and "Traceback" not in done.stderr


def test_record_writes_what_the_bus_carries_in_the_files_format_and_a_candump_primary(tmp_path: Path) -> None:
    """``hilbench record`` on python-can's socketcand client, against ``hilbench serve`` in another process."""
    from hilbench.bus.recorder import primary_log_path, read_recording

    out = tmp_path / "heard.blf"
    with emulator("serve", "--socketcand", "127.0.0.1:0") as server:
        host_port, channel = server.first_line.split()
        host, port = host_port.split(":")
        config = json.dumps({"host": host, "port": int(port), "tcp_tune": True})
        done = subprocess.run([*HILBENCH, "record", str(out), "--interface", "socketcand", "--channel", channel,
                               "--duration", "3"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "CAN_CONFIG": config})
    assert done.returncode == 0, done.stdout + done.stderr
    heard = int(done.stdout.split(" frame(s) recorded")[0].rsplit(" ", 1)[-1])
    frames = list(read_recording(out))
    assert heard >= 100 and len(frames) == heard
    assert len(list(read_recording(primary_log_path(out)))) == heard
    db = cantools.database.load_file(str(dbc_dir() / "hilbench.dbc"))
    # The compute unit's frames (0x4xx) are in another DBC: look for the BMS's ID, not up every frame's.
    assert db.get_message_by_name("BMS_PackStatus").frame_id in {f.arbitration_id for f in frames}


def test_record_refuses_the_simulated_bus_an_unknown_format_and_a_missing_port_leaving_no_file(tmp_path: Path) -> None:
    for args, entry in (([str(tmp_path / "a.log")], "--interface"),
                        ([str(tmp_path / "a.xyz"), "--interface", "slcan", "--channel", str(tmp_path / "no-tty"),
                          "--duration", "1"], "a.xyz"),
                        ([str(tmp_path / "b.log"), "--interface", "slcan", "--channel", str(tmp_path / "no-tty"),
                          "--duration", "1"], "no-tty")):
        done = subprocess.run([*HILBENCH, "record", *args], capture_output=True, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items() if not k.startswith("CAN_")})
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert entry in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "b.log").exists()


def test_replay_reads_an_asc_recordings_candump_primary_and_refuses_relative_times(session: Path,
                                                                                  tmp_path: Path) -> None:
    """python-can's ASC reader gives times relative to the file's start: beside its candump primary the
    replay reads the primary; alone, it is refused naming --epoch rather than replayed in one burst."""
    asc = tmp_path / "session.asc"
    done = subprocess.run([*HILBENCH, "run", "--record", str(asc), str(SCENARIO)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _replay(str(asc)).returncode == 0
    (tmp_path / "session.log").unlink()
    alone = _replay(str(asc))
    assert alone.returncode == 2 and "--epoch" in alone.stderr and "Traceback" not in alone.stderr


def test_a_recording_without_the_units_status_is_not_a_clean_replay(session: Path, tmp_path: Path) -> None:
    db = cantools.database.load_file(str(dbc_dir() / "compute_unit.dbc"))
    status_id = f"{db.get_message_by_name('CU_Status').frame_id:03X}"
    kept = [line for line in session.read_text().splitlines() if line.split()[2].split("#")[0] != status_id]
    bare = tmp_path / "bare.log"
    bare.write_text("\n".join(kept) + "\n")
    done = _replay(str(bare))
    assert done.returncode == 1 and "no status frame of the recorded unit" in done.stdout
