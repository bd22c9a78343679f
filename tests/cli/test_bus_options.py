"""One set of DBC, signal map and bus options for ``run``, ``tui``, ``fuzz``, ``defects`` and the pytest plugin.

The options come from one table (:data:`hilbench.cli.bus_options.OPTIONS`);
these tests check that every front end offers all of them, spelled and typed
alike, and that what each is given reaches the runs it starts the same way.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

import pytest

import hilbench.cli.defects as defects_cmd
import hilbench.cli.fuzz as fuzz_cmd
import hilbench.cli.run as run_cmd
from hilbench.bus.open import BusConfig
from hilbench.cli.bus_options import OPTIONS, BusOptions
from hilbench.cli.main import build_parser, main
from hilbench.errors import ConfigError
from hilbench.scenarios import RunOptions

ROOT = Path(__file__).resolve().parents[2]
SHORT = ROOT / "fixtures" / "scenarios" / "vehicle" / "shift_to_drive_lfp_-20c.toml"
FUZZABLE = ROOT / "fixtures" / "fuzz" / "gear.toml"
SUBCOMMANDS = ("run", "tui", "fuzz", "defects")
WITH_NO_DUT = ("run", "tui", "fuzz")     # defects seeds faults into the emulated unit: it must be there


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _signature(action: argparse.Action) -> tuple[Any, ...]:
    return type(action), action.dest, action.type, action.help, action.metavar, action.default


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_the_same_bus_options(command: str) -> None:
    actions = {a.option_strings[0]: a for a in _subparser(command)._actions if a.option_strings}
    expected = [o for o in OPTIONS if not o.dut or command in WITH_NO_DUT]
    for option in expected:
        assert f"--{option.name}" in actions, f"hilbench {command} has no --{option.name}"
    reference = {a.option_strings[0]: a for a in _subparser("run")._actions if a.option_strings}
    for option in expected:
        assert _signature(actions[f"--{option.name}"]) == _signature(reference[f"--{option.name}"])
    if command not in WITH_NO_DUT:
        assert "--no-dut" not in actions


def test_the_dbc_option_repeats_and_keeps_its_order() -> None:
    args = build_parser().parse_args(["run", "--dbc", "car.dbc", "--dbc", "cu.dbc", "--signal-map", "car.toml"])
    options = BusOptions.from_args(args)
    assert options.dbc == (Path("car.dbc"), Path("cu.dbc"))
    run = options.run_options(seed=3)
    assert run.dbc == (Path("car.dbc"), Path("cu.dbc")) and run.signal_map == Path("car.toml") and run.seed == 3
    assert run.bus == BusConfig() and run.emulate is None


def test_no_dut_and_real_nodes_leave_the_emulator_out() -> None:
    options = BusOptions.from_args(build_parser().parse_args(["run", "--no-dut"]))
    assert options.run_options().emulate == frozenset({"bms", "vcu", "obc"})
    assert options.run_options(real=["bms"]).emulate == frozenset({"vcu", "obc"})
    assert BusOptions().run_options(real=["bms"]).emulate == frozenset({"vcu", "obc", "cu"})


def test_a_real_interface_needs_a_channel_and_runs_one_scenario_at_a_time() -> None:
    with pytest.raises(ConfigError, match="socketcan needs --channel"):
        BusOptions.from_args(build_parser().parse_args(["run", "--interface", "socketcan"]))
    options = BusOptions.from_args(build_parser().parse_args(["run", "--interface", "socketcan", "--channel", "can0",
                                                              "--bitrate", "500000"]))
    assert options.bus == BusConfig("socketcan", "can0", 500_000)
    assert options.jobs(None, default=8) == 1
    with pytest.raises(ConfigError, match="run them one at a time"):
        options.jobs(2, default=8)
    assert BusOptions().jobs(0, default=8) == 8


def test_apply_to_changes_only_what_was_given() -> None:
    from hilbench.bench import BenchConfig

    mine = BenchConfig(bus=BusConfig("virtual", "lab"), signal_map=Path("mine.toml"))
    assert BusOptions().apply_to(mine) == mine
    changed = BusOptions(dbc=(Path("a.dbc"),), no_dut=True).apply_to(mine)
    assert changed.dbc == (Path("a.dbc"),) and changed.signal_map == Path("mine.toml")
    assert changed.bus == BusConfig("virtual", "lab") and "cu" not in changed.emulate
    assert BusOptions(channel="other").apply_to(mine).bus == BusConfig("simtime", "other")


def test_as_args_asks_for_the_same_again() -> None:
    argv = ["--dbc", "a.dbc", "--dbc", "b.dbc", "--signal-map", "m.toml", "--interface", "socketcan",
            "--channel", "can0", "--bitrate", "250000", "--no-dut"]
    options = BusOptions.from_args(build_parser().parse_args(["run", *argv]))
    assert options.as_args() == argv
    assert BusOptions.from_args(build_parser().parse_args(["run", *options.as_args()])) == options


# -- what each subcommand passes on ---------------------------------------------------------
DBCS = (ROOT / "dbc" / "hilbench.dbc", ROOT / "dbc" / "compute_unit.dbc")
SIGNAL_MAP = ROOT / "dbc" / "hilbench.signals.toml"
BUS_ARGV = ["--dbc", str(DBCS[0]), "--dbc", str(DBCS[1]), "--signal-map", str(SIGNAL_MAP), "--channel", "other"]
EXPECTED = {"dbc": DBCS, "signal_map": SIGNAL_MAP, "bus": BusConfig("simtime", "other")}


class _Captured(BaseException):
    def __init__(self, options: RunOptions) -> None:
        super().__init__("captured")
        self.options = options


def _check(options: RunOptions, **more: Any) -> None:
    for key, value in {**EXPECTED, **more}.items():
        assert getattr(options, key) == value, key


def test_run_passes_them_to_every_scenario(monkeypatch) -> None:
    def fake(plans, jobs):
        raise _Captured(plans[0][1])
    monkeypatch.setattr(run_cmd, "_run_all", fake)
    with pytest.raises(_Captured) as info:
        main(["run", str(SHORT), *BUS_ARGV, "--no-dut", "--seed", "4"])
    _check(info.value.options, seed=4, emulate=frozenset({"bms", "vcu", "obc"}))


def test_fuzz_passes_them_to_every_run(monkeypatch) -> None:
    def fake(scenario, space, **kwargs):
        raise _Captured(kwargs["options"])
    monkeypatch.setattr(fuzz_cmd, "fuzz", fake)
    with pytest.raises(_Captured) as info:
        main(["fuzz", str(FUZZABLE), *BUS_ARGV, "-q"])
    _check(info.value.options)


def test_defects_passes_them_to_every_run(monkeypatch) -> None:
    seen: list[RunOptions] = []
    monkeypatch.setattr(defects_cmd, "run_scenario", lambda scenario, options: seen.append(options) or _no_run())
    report = defects_cmd.run_defects([defects_cmd.load_scenario(SHORT)], ["ignore_gear"], seed=2,
                                     options=BusOptions(dbc=EXPECTED["dbc"], signal_map=EXPECTED["signal_map"],
                                                        channel="other").run_options())
    assert [o.dut_defect for o in seen] == [None, "ignore_gear"]
    for options in seen:
        _check(options, seed=2)
    assert {o.verdict for o in report.outcomes} == {"ERROR"}


def _no_run():
    raise RuntimeError("not run in this test")


def test_defects_refuses_a_run_without_the_emulated_unit() -> None:
    with pytest.raises(ConfigError, match="need the emulated compute unit"):
        defects_cmd.run_defects([], options=BusOptions(no_dut=True).run_options())


def test_tui_passes_them_to_its_bench(monkeypatch) -> None:
    import tui.app

    def fake(scenario, *, options, speed, **_more):
        raise _Captured(options)
    monkeypatch.setattr(tui.app, "run_tui", fake)
    with pytest.raises(_Captured) as info:
        main(["tui", *BUS_ARGV, "--no-dut", "--seed", "5"])
    _check(info.value.options, seed=5, emulate=frozenset({"bms", "vcu", "obc"}))


@pytest.mark.parametrize("command", SUBCOMMANDS)
@pytest.mark.parametrize(("argv", "message"), [
    (["--interface", "pcan"], "--interface: pcan needs --channel"),
    (["--bitrate", "-5"], "--bitrate: must be positive, got -5"),
])
def test_bad_bus_options_are_one_error_line_and_exit_2(command: str, argv: list[str], message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    target = [str(FUZZABLE)] if command == "fuzz" else []
    assert main([command, *target, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", WITH_NO_DUT)
def test_a_seeded_defect_needs_the_emulated_unit(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = [str(FUZZABLE)] if command == "fuzz" else []
    assert main([command, *target, "--no-dut", "--dut-defect", "ignore_gear"]) == 2
    assert "--dut-defect: needs the emulated compute unit" in capsys.readouterr().err


# -- the pytest plugin ----------------------------------------------------------------------
def test_the_plugin_offers_the_same_options_as_hil(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for option in OPTIONS:
        result.stdout.fnmatch_lines([f"*--hil-{option.name}*"])


def test_the_plugin_passes_them_to_run_options_and_the_bench(pytester: pytest.Pytester) -> None:
    signal_map = pytester.path / "copy.signals.toml"
    signal_map.write_text((ROOT / "dbc" / "hilbench.signals.toml").read_text())
    pytester.makepyfile(test_opts=textwrap.dedent(f"""
        from pathlib import Path

        def test_run_options(hil_run_options):
            assert hil_run_options.dbc == (Path({str(ROOT / "dbc" / "hilbench.dbc")!r}),
                                           Path({str(ROOT / "dbc" / "compute_unit.dbc")!r}))
            assert hil_run_options.signal_map == Path({str(signal_map)!r})
            assert hil_run_options.emulate == frozenset({{"bms", "vcu", "obc"}})
            assert hil_run_options.bus.channel == "plugin-test"

        def test_bench(bench):
            assert bench.config.signal_map == Path({str(signal_map)!r})
            assert bench.dut is None and bench.config.bus.channel == "plugin-test"
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "--hil-dbc", str(ROOT / "dbc" / "hilbench.dbc"),
                                "--hil-dbc", str(ROOT / "dbc" / "compute_unit.dbc"),
                                "--hil-signal-map", str(signal_map), "--hil-no-dut", "--hil-channel", "plugin-test")
    result.assert_outcomes(passed=2)


def test_the_plugin_refuses_a_defect_without_the_unit(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--hil-no-dut", "--hil-dut-defect", "ignore_gear")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hil-dut-defect needs the emulated compute unit*--hil-no-dut*"])


# -- warnings are printed, never silent -----------------------------------------------------
BROKEN = 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: X\n\nBO_ 1800 Junk: 1 X\n SG_ Big : 0|16@1+ (1,0) [0|0] "" X\n'


@pytest.fixture
def broken_dbc(tmp_path: Path) -> Path:
    """A DBC cantools refuses strictly (a signal longer than its message), in a message nothing maps."""
    path = tmp_path / "extra.dbc"
    path.write_text(BROKEN)
    return path


def test_run_prints_load_warnings_before_anything_runs(monkeypatch, broken_dbc: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(run_cmd, "_run_all", lambda plans, jobs: iter(()))
    assert main(["run", str(SHORT), "--dbc", str(DBCS[0]), "--dbc", str(DBCS[1]), "--dbc", str(broken_dbc)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warning: ") and 'signal "Big"' in out and "extra.dbc" in out


def test_run_refuses_a_bad_map_before_anything_runs(monkeypatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def never(plans, jobs):
        raise AssertionError("nothing may run")
    monkeypatch.setattr(run_cmd, "_run_all", never)
    bad = tmp_path / "bad.signals.toml"
    bad.write_text('dbc = ["' + str(DBCS[0]) + '"]\n[roles]\nsoc_pct = { message = "NoSuchMessage", signal = "SOC" }\n')
    assert main(["run", str(SHORT), "--signal-map", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.signals.toml" in err and "NoSuchMessage" in err


def test_a_tui_session_logs_the_benchs_warnings(broken_dbc: Path) -> None:
    from tui.session import BenchSession

    with BenchSession.open(options=RunOptions(dbc=(*DBCS, broken_dbc))) as session:
        texts = [e.text for e in session.events]
    assert any(t.startswith("warning: ") and 'signal "Big"' in t for t in texts)


def test_the_plugin_lists_bench_warnings_at_the_end(pytester: pytest.Pytester, broken_dbc: Path) -> None:
    pytester.makepyfile(test_w="def test_bench(bench):\n    bench.run_for(0.5)\n")
    dbc_args = [a for p in (*DBCS, broken_dbc) for a in ("--hil-dbc", str(p))]
    result = pytester.runpytest("-p", "no:cacheprovider", *dbc_args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*hilbench warnings (1)*", '*warning: lenient DBC load*signal "Big"*'])


# -- python-can's own configuration, as a lab keeps it (issue 15) ---------------------------------------

@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A home of python-can configuration files and no CAN_* variables; returns the home."""
    for name in ("CAN_INTERFACE", "CAN_CHANNEL", "CAN_BITRATE", "CAN_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    import can.util

    monkeypatch.setattr(can.util, "CONFIG_FILES", [str(tmp_path / ".canrc")])
    return tmp_path


def _options(**given: object) -> BusOptions:
    return BusOptions.from_values(lambda dest: given.get(dest))


def test_the_labs_environment_names_the_bus_and_the_command_line_overrides_it(lab: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAN_INTERFACE", "socketcand")
    monkeypatch.setenv("CAN_CHANNEL", "can1")
    monkeypatch.setenv("CAN_BITRATE", "250000")
    options = _options()
    assert options.bus == BusConfig("socketcand", "can1", 250_000)
    assert options.notices and "CAN_" in options.notices[0] and "socketcand on can1" in options.notices[0]
    assert _options(channel="can0").bus == BusConfig("socketcand", "can0", 250_000)
    assert _options(interface="pcan", channel="PCAN_USBBUS1").bus == BusConfig("pcan", "PCAN_USBBUS1", 250_000)
    # A simulated interface on the command line keeps its own channel, not the lab's.
    simulated = _options(interface="simtime")
    assert simulated.bus == BusConfig("simtime", "bench") and simulated.notices == ()


def test_the_labs_configuration_file_names_the_bus_below_the_environment(lab: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (lab / ".canrc").write_text("[default]\ninterface = slcan\nchannel = /dev/ttyACM0\nbitrate = 500000\n")
    assert _options().bus == BusConfig("slcan", "/dev/ttyACM0", 500_000)
    assert "configuration file" in _options().notices[0]
    monkeypatch.setenv("CAN_CHANNEL", "/dev/ttyACM1")
    assert _options().bus == BusConfig("slcan", "/dev/ttyACM1", 500_000)


def test_without_a_lab_configuration_the_bench_stays_in_simulated_time(lab: Path) -> None:
    options = _options()
    assert options.bus == BusConfig("simtime", "bench") and options.notices == () and not options.names_a_bus


def test_a_lab_interface_without_a_channel_or_with_a_bad_bitrate_is_refused(lab: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAN_INTERFACE", "socketcan")
    with pytest.raises(ConfigError) as info:
        _options()
    assert info.value.entry == "--interface" and "names no channel" in info.value.reason
    monkeypatch.setenv("CAN_CHANNEL", "can0")
    monkeypatch.setenv("CAN_BITRATE", "fast")
    with pytest.raises(ConfigError) as info:
        _options()
    assert "CAN_" in str(info.value.entry) and "'fast'" in info.value.reason


@pytest.mark.parametrize("value", ["{bad", "[1]", "3"])
def test_a_malformed_can_config_is_one_error_line_naming_it(lab: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], value: str) -> None:
    monkeypatch.setenv("CAN_CONFIG", value)
    assert main(["run", "--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "CAN_CONFIG" in err and len(err.strip().splitlines()) == 1


def test_the_pytest_plugin_never_reads_the_labs_configuration(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAN_INTERFACE", "pcan")
    options = BusOptions.from_values(lambda dest: None, prefix="--hil-", lab=False)
    assert options.bus == BusConfig("simtime", "bench") and options.notices == ()
