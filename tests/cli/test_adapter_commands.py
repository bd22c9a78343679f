"""``hilbench slcan-emulator`` and ``hilbench serve``, each in a process of its own, with python-can's own
``slcan`` and ``socketcand`` clients in other processes (issue 15).

A lab starts the emulated adapter, reads its port from the first line, and points a tool at
it: the BMS frames that come out decode with the bench DBC, and a scenario run through the
adapter with the compute unit on its far side passes end to end (python-can's client carries
the scenario's frames to the unit, and the unit's status back).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hilbench.clock import wall_sleep_s
from hilbench.resources import dbc_dir

from _adapters import HILBENCH, NO_PAUSE, SCENARIO, emulator

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="the SLCAN adapter needs a pseudo-terminal")

CLIENT = textwrap.dedent("""
    import json, sys, time
    import can, cantools
    kind, where, dbc = sys.argv[1], sys.argv[2], sys.argv[3]
    if kind == "slcan":
        bus = can.Bus(interface="slcan", channel=where, bitrate=500000, sleep_after_open=0)
    else:
        host, port, channel = where.replace(":", " ").split()
        bus = can.Bus(interface="socketcand", host=host, port=int(port), channel=channel, tcp_tune=True)
    db = cantools.database.load_file(dbc)
    decoded, failed, names = 0, 0, set()
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        msg = bus.recv(0.2)
        if msg is None:
            continue
        try:
            message = db.get_message_by_frame_id(msg.arbitration_id)
        except KeyError:
            continue
        if not message.name.startswith("BMS_"):
            continue
        try:
            message.decode(bytes(msg.data))
            decoded += 1
            names.add(message.name)
        except Exception:
            failed += 1
    bus.shutdown()
    print(json.dumps({"decoded": decoded, "failed": failed, "names": sorted(names)}))
""")


def _client(kind: str, where: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", CLIENT, kind, where, str(dbc_dir() / "hilbench.dbc")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_python_cans_slcan_client_in_another_process_gets_bms_frames_that_decode() -> None:
    with emulator("slcan-emulator") as adapter:
        assert adapter.first_line.startswith("/dev/")
        seen = _client("slcan", adapter.first_line)
    assert adapter.returncode == 0, adapter.stderr
    assert seen["failed"] == 0 and seen["decoded"] >= 20, seen
    assert "BMS_PackStatus" in seen["names"]


def test_python_cans_socketcand_client_in_another_process_gets_bms_frames_that_decode() -> None:
    with emulator("serve", "--socketcand", "127.0.0.1:0") as server:
        host_port, channel = server.first_line.split()
        assert host_port.startswith("127.0.0.1:") and channel == "vcan0"
        seen = _client("socketcand", server.first_line)
    assert server.returncode == 0, server.stderr
    assert seen["failed"] == 0 and seen["decoded"] >= 20, seen
    assert "BMS_PackStatus" in seen["names"]


def test_bad_arguments_are_refused_with_the_option_and_the_reason() -> None:
    for args, entry in ((["serve", "--socketcand", "10.0.0.1:29536", "--duration", "1"], "--socketcand"),
                        (["serve", "--socketcand", "127.0.0.1:99999"], "--socketcand"),
                        (["slcan-emulator", "--emulate", "bms,abs"], "--emulate"),
                        (["slcan-emulator", "--interface", "virtual"], "--interface"),
                        (["slcan-emulator", "--duration", "0"], "--duration"),
                        (["serve", "--socketcand", "0", "--bus-name", "a b", "--duration", "1"], "--bus-name")):
        done = subprocess.run([*HILBENCH, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert entry in done.stderr and "Traceback" not in done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*HILBENCH, "serve", "--socketcand", f"127.0.0.1:{port}", "--duration", "1"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--socketcand: cannot listen on" in done.stderr, done.stderr


def test_an_adapter_stopped_mid_run_ends_the_run_with_verdicts_and_the_recording_kept(tmp_path: Path) -> None:
    """The emulator's process ends 6 s into a 20 s run: the run ends there with its verdicts over the
    time that ran and the reason (exit 1; no traceback, no 'internal error'), and the frames recorded
    until then are on disk."""
    recording = tmp_path / "lost.log"
    with emulator("slcan-emulator", "--emulate", "cu", "--duration", "6") as adapter:
        done = subprocess.run([*HILBENCH, "run", "--interface", "slcan", "--channel", adapter.first_line,
                               "--no-dut", "--record", str(recording), str(SCENARIO)], capture_output=True,
                              text=True, timeout=120, env={**os.environ, **NO_PAUSE})
    assert adapter.returncode == 0, adapter.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[INTERRUPTED]  by a lost bus: the bus (slcan on /dev/" in done.stdout, done.stdout
    assert "partial verdicts" in done.stdout and "0 passed, 1 failed" in done.stdout
    assert "Traceback" not in done.stderr + done.stdout and "internal error" not in done.stderr
    lines = recording.read_text().splitlines()
    assert len(lines) > 100 and all(line.startswith("(") for line in lines)


def test_an_fd_frame_over_a_classic_only_link_is_counted_fails_integrity_and_is_not_recorded(tmp_path: Path) -> None:
    """python-can's socketcand client carries classic frames only: the BMS's 64-byte FD message cannot
    cross it.  The run counts each one, its bus-integrity check fails naming the message, and the
    recording holds only frames that reached the bus (no frame of that ID)."""
    import cantools

    fd_message = cantools.database.load_file(str(dbc_dir() / "hilbench.dbc")).get_message_by_name("BMS_ModuleCellsFD")
    recording = tmp_path / "link.log"
    with emulator("serve", "--socketcand", "127.0.0.1:0", "--emulate", "cu") as server:
        host_port, channel = server.first_line.split()
        host, port = host_port.split(":")
        config = {"host": host, "port": int(port), "tcp_tune": True}
        done = subprocess.run([*HILBENCH, "run", "--interface", "socketcand", "--channel", channel, "--no-dut",
                               "--record", str(recording), str(SCENARIO.parent / "integrity_short.toml")],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CAN_CONFIG": json.dumps(config)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout and "BMS_ModuleCellsFD x" in done.stdout, done.stdout
    ids = {line.split()[2].split("#")[0] for line in recording.read_text().splitlines()}
    assert f"{fd_message.frame_id:03X}" not in ids and len(ids) >= 5, ids


def test_with_reconnect_a_run_carries_on_when_the_daemon_comes_back(tmp_path: Path) -> None:
    """``hilbench serve`` stops 3 s in and another starts on the same port soon after: ``run --reconnect``
    opens the bus again, finishes the scenario with its verdicts, and says when the bus was away.  The
    outage ends well before the scenario's first step (8 s), whose response check would otherwise see
    the unit's last status frozen through the outage."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = json.dumps({"host": "127.0.0.1", "port": port, "tcp_tune": True})
    run_cmd = [*HILBENCH, "run", "--interface", "socketcand", "--channel", "vcan0", "--no-dut", "--reconnect",
               str(SCENARIO)]
    with emulator("serve", "--socketcand", f"127.0.0.1:{port}", "--emulate", "cu", "--duration", "3"):
        with subprocess.Popen(run_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "CAN_CONFIG": config}) as run:
            wall_sleep_s(4.0)   # the first daemon is gone by now (3 s after it started)
            with emulator("serve", "--socketcand", f"127.0.0.1:{port}", "--emulate", "cu", "--duration", "30"):
                out, err = run.communicate(timeout=90)
    assert run.returncode == 0, out + err
    assert "[PASS]" in out and "1 passed, 0 failed" in out
    assert "warning: the bus was lost at" in out and "and open again at" in out
    assert "Traceback" not in out + err


def test_a_scenario_passes_with_the_compute_unit_on_the_far_side_of_the_adapter_as_in_simulated_time() -> None:
    """``hilbench parity`` runs the scenario in simulated time, then through python-can's slcan client with
    the compute unit behind the adapter, in the emulator's process: its inputs cross the adapter, its
    status comes back, and both runs pass every check alike."""
    with emulator("slcan-emulator", "--emulate", "cu") as adapter:
        done = subprocess.run([*HILBENCH, "parity", "--interface", "slcan", "--channel", adapter.first_line,
                               "--bitrate", "500000", "--no-dut", str(SCENARIO)], capture_output=True, text=True,
                              timeout=120, env={**os.environ, **NO_PAUSE})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: simulated PASS, on the bus PASS" in done.stdout and done.stdout.rstrip().endswith("parity")
    assert "CU_Status" in done.stdout and "BMS_PackStatus" in done.stdout
    assert adapter.returncode == 0, adapter.stderr
    to_bus = int(adapter.stderr.split(" frame(s) to the bus")[0].rsplit(" ", 1)[-1])
    assert to_bus > 1000, adapter.stderr   # the scenario's frames reached the unit's side


def test_parity_names_a_message_the_bus_run_lacks() -> None:
    """Over python-can's classic-only socketcand client the BMS's FD message never reaches the bus."""
    with emulator("serve", "--socketcand", "127.0.0.1:0", "--emulate", "cu") as server:
        host_port, channel = server.first_line.split()
        host, port = host_port.split(":")
        config = json.dumps({"host": host, "port": int(port), "tcp_tune": True})
        done = subprocess.run([*HILBENCH, "parity", "--interface", "socketcand", "--channel", channel, "--no-dut",
                               str(SCENARIO.parent / "integrity_short.toml")], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "CAN_CONFIG": config})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "missing on the bus: BMS_ModuleCellsFD" in done.stdout and "NO parity" in done.stdout
