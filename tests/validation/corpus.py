"""A seeded corpus of malformed inputs of every file kind, and a harness that runs each through the CLI.

Every case is built from a bundled valid file (a scenario, the bench's signal map, its DBCs, a
chemistry) with one thing broken on purpose: a value out of range or of the wrong type, an unknown
key, action or role, a syntax error, a truncated or binary file.  Each case must be refused with
exit code 2 and one clean ``error: ...`` naming the broken file and entry; nothing may escape
``main()`` as a traceback, hang past a time bound, or run (exit 0 or 1) as if the input were good.

The same builders feed the hypothesis suite (``test_fuzz_loaders.py``), which also mutates at random
and then only asks for a clean outcome.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import re
import signal
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hilbench.bus import default_dbc_paths, default_signal_map_path
from hilbench.plant.chemistry import CHEMISTRY_DIR
from hilbench.resources import scenarios_dir

KINDS = ("scenario", "dut", "signal_map", "dbc", "chemistry")

#: A short scenario the non-scenario kinds are run with: 3 s of bench time, one check that passes.
SHORT_SCENARIO = {
    "scenario": {"name": "short", "duration": "3 s"},
    "initial": {"chemistry": "lfp", "soc_pct": 60.0},
    "checks": [{"kind": "always", "name": "soc in range", "expr": "soc_pct >= 0"}],
}


# -- writing TOML ------------------------------------------------------------------------------
def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _scalar(key)


def dumps(data: dict[str, Any]) -> str:
    """TOML text for ``data``: scalars first, then tables, then arrays of tables (enough for these files)."""
    out: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        plain = {k: v for k, v in body.items()
                 if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        for k, v in plain.items():
            out.append(f"{_key(k)} = {_scalar(v)}")
        for k, v in body.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, dict):
                out.append(f"\n[{name}]")
                table(name, v)
        for k, v in body.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for item in v:
                    out.append(f"\n[[{name}]]")
                    table(name, item)

    table("", data)
    return "\n".join(out) + "\n"


# -- cases -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One input to run: files to write into a fresh folder and the ``hilbench run`` arguments.

    ``broken`` is the file (name in the folder) whose error must be named; ``entry`` a piece of the
    entry the error must name (``steps[0].temp_c``), or "" when the file as a whole is broken.
    ``extra_args`` are more ``hilbench run`` arguments, ``{folder}`` standing for the case's folder.
    """

    kind: str
    name: str
    files: dict[str, str | bytes]
    broken: str
    entry: str = ""
    map_file: str | None = None
    extra_args: tuple[str, ...] = ()

    def argv(self, folder: Path) -> list[str]:
        args = ["run", "-j", "1"]
        if self.map_file is not None:
            args += ["--signal-map", str(folder / self.map_file)]
        extra = [arg.format(folder=folder) for arg in self.extra_args]
        return [*args, *extra, str(folder / "scenario.toml")]

    def write(self, folder: Path) -> None:
        for name, body in self.files.items():
            path = folder / name
            if isinstance(body, bytes):
                path.write_bytes(body)
            else:
                path.write_text(body, encoding="utf-8")


def bundled_scenarios() -> list[Path]:
    """The bundled scenarios a mutation starts from (the long overnight session is left out)."""
    return sorted(p for p in scenarios_dir().rglob("*.toml")
                  if "long" not in tomllib.loads(p.read_text(encoding="utf-8"))["scenario"].get("markers", []))


def _bench_map_text(dbc_paths: tuple[str, ...] | None = None) -> str:
    """The bench's signal map, its DBC list made absolute (or ``dbc_paths``, names in the case folder)."""
    text = default_signal_map_path().read_text(encoding="utf-8")
    dbcs = dbc_paths or tuple(p.as_posix() for p in default_dbc_paths())
    listing = ", ".join(f'"{p}"' for p in dbcs)
    return re.sub(r"^dbc = \[.*\]$", f"dbc = [{listing}]", text, count=1, flags=re.MULTILINE)


def _short() -> str:
    return dumps(SHORT_SCENARIO)


# A step's broken value: (action, params, the parameter named in the error).
BAD_STEPS: list[tuple[str, dict[str, Any], str]] = [
    ("shift", {"gear": "X"}, "gear"),
    ("shift", {"gear": 3}, "gear"),
    ("shift", {}, "gear"),
    ("set_cp_state", {"state": "Z"}, "state"),
    ("cold_soak", {"temp_c": -1000.0}, "temp_c"),
    ("cold_soak", {"temp_c": 1e29}, "temp_c"),
    ("cold_soak", {"temp_c": float("nan")}, "temp_c"),
    ("cold_soak", {"temp_c": -300.0}, "temp_c"),
    ("set_ambient", {"value_c": 500.0}, "value_c"),
    ("set_coolant", {"value_c": float("inf")}, "value_c"),
    ("set_cell_temps", {"value_c": -100.0}, "value_c"),
    ("heat_wave", {"to_c": 400.0}, "to_c"),
    ("heat_wave", {"to_c": 40.0, "step_s": 0.0}, "step_s"),
    ("set_reserve", {"soc_pct": 150.0}, "soc_pct"),
    ("set_reserve", {"soc_pct": -1.0}, "soc_pct"),
    ("set_evse_current", {"current_a": -16.0}, "current_a"),
    ("set_evse_current", {"current_a": float("nan")}, "current_a"),
    ("plug_in", {"cable_ohm": -5.0}, "cable_ohm"),
    ("drop", {"node": "bms", "duration_s": -1.0}, "duration_s"),
    ("drop", {"node": "bms", "every_n": 0}, "every_n"),
    ("drop", {"node": "zzz"}, "node"),
    ("corrupt", {"node": "bms", "bits": "many"}, "bits"),
    ("delay", {"node": "bms", "delay_s": "soon"}, "delay_s"),
    ("delay", {"node": "bms", "delay_s": -2.0}, "delay_s"),
    ("node_silent", {"node": "toaster"}, "node"),
    ("bus_off", {"duration_s": 0.0}, "duration_s"),
    ("sensor_stuck", {"role": "soc_pct_typo", "value": 1.0}, "role"),
    ("sensor_noise", {"role": "soc_pct", "sigma": -1.0}, "sigma"),
    ("replay", {"file": "no_such_recording.log", "node": "bms"}, "file"),
    ("wrong_counter", {"node": "bms", "mode": "sideways"}, "mode"),
    ("set_ignition", {"on": "maybe"}, "on"),
    ("request_compute", {"on": 2}, "on"),
    ("teleport", {}, "action"),
    ("shift", {"gear": "D", "speed": 3}, "speed"),
]

BAD_INITIAL: list[tuple[str, Any]] = [
    ("soc_pct", 365.0), ("soc_pct", -1.0), ("soc_pct", float("nan")), ("soc_pct", "full"),
    ("pack_temp_c", -1000.0), ("pack_temp_c", 1e29), ("pack_temp_c", -274.0), ("ambient_c", 95.0),
    ("ambient_c", float("-inf")), ("coolant_c", 300.0), ("reserve_soc_pct", 150.0), ("reserve_soc_pct", -0.5),
    ("evse_max_current_a", -16.0), ("evse_max_current_a", float("nan")), ("series", 0), ("series", -3),
    ("series", 2.5), ("parallel", 0), ("gear", "X"), ("gear", 4), ("ignition_on", "yes"), ("plugged_in", 1),
    ("chemistry", "unobtainium"), ("chemistry", 7), ("chemistry", "missing_cell.toml"), ("sco_pct", 50.0),
    ("compute_requested", "no"),
]

BAD_DUT: list[tuple[str, Any]] = [
    ("fidelity", "bogus"), ("fidelity", 3), ("performance", "fast"), ("defect", "nope"), ("defect", 5),
    ("coolant_c", 1000.0), ("coolant_c", float("nan")), ("coolant_c", -500.0), ("tick_s", 0.0), ("tick_s", -1.0),
    ("tick_s", float("inf")), ("stale_cycles", 0.0), ("stale_cycles", "two"), ("min_stale_s", -1.0),
    ("e2e", 5), ("e2e", {"window_valid": -3}), ("e2e", {"no_such_setting": 1}), ("turbo", True),
    ("model", 12), ("model", "no_such_model"), ("model", "missing/model.onnx"),
]

BAD_SCENARIO_META: list[tuple[str, Any]] = [
    ("duration", "-5 s"), ("duration", 0), ("duration", "fast"), ("duration", [1, 2]), ("duration", True),
    ("duration", float("nan")), ("duration", float("inf")), ("duration", "1e400 s"), ("name", 5),
    ("markers", "short"), ("markers", [1]), ("catches", ["no_such_defect"]), ("catches", "ignore_gear"),
    ("durration", "2 min"),
]

BAD_CHECKS: list[tuple[dict[str, Any], str]] = [
    ({"kind": "sometimes", "expr": "soc_pct > 0"}, "kind"),
    ({"kind": "always", "expr": "soc_pct >>= 3"}, "expr"),
    ({"kind": "always", "expr": "soc_pc > 3"}, "expr"),
    ({"kind": "always", "expr": "gear == 'X'"}, "expr"),
    ({"kind": "always"}, "checks[0]"),
    ({"kind": "response", "expr": "soc_pct > 0", "trigger": "gear != 'P'"}, "checks[0]"),
    ({"kind": "eventually", "expr": "soc_pct > 0", "within": "-2 s"}, "within"),
    ({"kind": "holds_for", "expr": "soc_pct > 0", "duration": "soon"}, "duration"),
    ({"kind": "always", "expr": "soc_pct > 0", "tolerance_pct": -1.0}, "tolerance_pct"),
    ({"kind": "always", "expr": "soc_pct > 0", "tolerance_pct": float("nan")}, "tolerance_pct"),
    ({"kind": "eventually", "expr": "soc_pct > 0", "vacuous": "sure"}, "vacuous"),
    ({"kind": "always", "expr": "soc_pct > 0", "from": "1 h"}, "from"),
    ({"kind": "always", "expr": "soc_pct > 0", "colour": "red"}, "colour"),
    ({"kind": "always", "expr": 5}, "expr"),
]

#: A ``[fuzz]`` entry no run of the scenario could hold: (entry under [fuzz], value, what the error names).
BAD_FUZZ: list[tuple[str, Any, str]] = [
    ("initial.soc_pct", [40.0, 31.0], "fuzz.initial.soc_pct"), ("initial.soc_pct", [-5.0, 40.0], "fuzz.initial"),
    ("initial.ambient_c", [-100.0, 20.0], "fuzz.initial.ambient_c"), ("initial.coolant_c", [1.0], "fuzz.initial"),
    ("initial.soc_pct", [1.0, float("inf")], "fuzz.initial.soc_pct"), ("initial.colour", [1.0, 2.0], "fuzz.initial"),
    ("initial.gear", {"choices": ["P", "X"]}, "fuzz.initial.gear"), ("dut.tick_s", [0.0, 0.5], "fuzz.dut.tick_s"),
    ("dut.defect", {"choices": ["ignore_gear"]}, "fuzz.dut.defect"), ("plant.soc", [1.0, 2.0], "fuzz.plant"),
    ("steps.9.at", [1.0, 2.0], "fuzz.steps.9.at"), ("steps.0.at", ["5 s", "ten s"], "fuzz.steps.0.at"),
    ("steps.0.at", ["5 s", "99 h"], "fuzz.steps.0.at"), ("initial.series", [90.5, 100], "fuzz.initial.series"),
]

#: The bundled fuzz-ready scenarios ``hilbench fuzz`` starts from.
FUZZ_SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "fuzz").glob("*.toml"))


def _text_breakages(text: str, rng: random.Random, cut_after: str = "=") -> list[tuple[str, str | bytes]]:
    """A file broken as text: cut short right after a random ``cut_after`` (a TOML key's "=", a DBC
    signal's "|"), binary junk, invalid UTF-8, an unclosed string, empty."""
    marks = [m.end() for m in re.finditer(re.escape(cut_after), text)]
    cut = rng.choice(marks) if marks else len(text) // 2
    body = text.encode("utf-8")
    return [
        ("truncated", text[:cut]),
        ("binary", bytes(rng.randrange(256) for _ in range(200))),
        ("invalid_utf8", body[: len(body) // 2] + b"\xff\xfe\xc0" + body[len(body) // 2:]),
        ("unclosed_string", text + '\nbroken = "no end\n'),
        ("empty", ""),
    ]


def scenario_cases(rng: random.Random) -> Iterator[Case]:
    """Scenarios (and their [dut] tables) broken one entry at a time, each starting from a bundled scenario."""
    bases = bundled_scenarios()
    for action, params, key in BAD_STEPS:
        base = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        # at 0 s: before every step of the base, so the broken value is the only thing wrong
        base["steps"] = [{"at": "0 s", "action": action, **params}] + list(base.get("steps", []))
        entry = "steps[0]" if key == "action" else f"steps[0].{key}"
        yield Case("scenario", f"step {action} {key}={params.get(key)!r}", {"scenario.toml": dumps(base)},
                   "scenario.toml", entry)
    for key, value in BAD_INITIAL:
        base = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        base.setdefault("initial", {})[key] = value
        yield Case("scenario", f"initial.{key}={value!r}", {"scenario.toml": dumps(base)}, "scenario.toml",
                   f"initial.{key}")
    for key, value in BAD_SCENARIO_META:
        base = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        base["scenario"][key] = value
        yield Case("scenario", f"scenario.{key}={value!r}", {"scenario.toml": dumps(base)}, "scenario.toml",
                   f"scenario.{key}")
    for check, key in BAD_CHECKS:
        base = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        base["checks"] = [check] + list(base.get("checks", []))
        entry = key if key.startswith("checks") else f"checks[0].{key}"
        yield Case("scenario", f"check {check}", {"scenario.toml": dumps(base)}, "scenario.toml", entry)
    # structure: steps out of order, after the end, a table where a list belongs, an unknown table
    for label, mutate, entry in (
        ("steps out of order", lambda d: d.update(steps=[{"at": "10 s", "action": "unplug"},
                                                         {"at": "5 s", "action": "unplug"}]), "steps[1].at"),
        ("step after the end", lambda d: d.update(steps=[{"at": "99 h", "action": "unplug"}]), "steps[0].at"),
        ("step without at", lambda d: d.update(steps=[{"action": "unplug"}]), "steps[0]"),
        ("steps as a table", lambda d: d.update(steps={"at": 1}), "steps"),
        ("checks as a string", lambda d: d.update(checks="always"), "checks"),
        ("initial as a list", lambda d: d.update(initial=[1, 2]), "initial"),
        ("no [scenario]", lambda d: d.pop("scenario"), "scenario"),
        ("unknown table", lambda d: d.update(setup={"x": 1}), "setup"),
        ("dut as a number", lambda d: d.update(dut=3), "dut"),
        ("fuzz as a string", lambda d: d.update(fuzz="yes"), "fuzz"),
    ):
        base = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        mutate(base)
        yield Case("scenario", label, {"scenario.toml": dumps(base)}, "scenario.toml", entry)
    for label, body in _text_breakages(rng.choice(bases).read_text(encoding="utf-8"), rng):
        yield Case("scenario", f"text: {label}", {"scenario.toml": body}, "scenario.toml")
    for key, value, entry in BAD_FUZZ:
        base = tomllib.loads(rng.choice(FUZZ_SCENARIOS).read_text(encoding="utf-8"))
        _set(key, value)(base["fuzz"])
        yield Case("scenario", f"fuzz.{key}={value!r}", {"scenario.toml": dumps(base)}, "scenario.toml", entry)
    for key, value in BAD_DUT:
        base = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        base["dut"] = {key: value}
        yield Case("dut", f"dut.{key}={value!r}", {"scenario.toml": dumps(base)}, "scenario.toml", f"dut.{key}")


# -- signal maps -------------------------------------------------------------------------------
def _map_with(edit: Callable[[dict[str, Any]], None]) -> str:
    data = tomllib.loads(_bench_map_text())
    edit(data)
    return dumps(data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return edit


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[last]
    return edit


BAD_MAPS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("soc on the pack voltage", _set("roles.soc_pct", {"message": "BMS_PackStatus", "signal": "PackVoltage"}),
     "roles.soc_pct"),
    ("temperature on a voltage", _set("roles.min_cell_temp_c", {"message": "BMS_CellExtremes",
                                                                 "signal": "MinCellVoltage"}), "roles.min_cell_temp_c"),
    ("current on the SOC", _set("roles.pack_current_a", {"message": "BMS_PackStatus", "signal": "SOC"}),
     "roles.pack_current_a"),
    ("wrong dbc_unit", _set("roles.soc_pct.dbc_unit", "V"), "roles.soc_pct"),
    ("unknown role", _set("roles.soc_percent", {"message": "BMS_PackStatus", "signal": "SOC"}), "roles.soc_percent"),
    ("unknown message", _set("roles.soc_pct.message", "BMS_Nope"), "roles.soc_pct.message"),
    ("unknown signal", _set("roles.soc_pct.signal", "Soc"), "roles.soc_pct.signal"),
    ("message not a string", _set("roles.soc_pct.message", 5), "roles.soc_pct.message"),
    ("scale 0", _set("roles.soc_pct.scale", 0.0), "roles.soc_pct.scale"),
    ("scale nan", _set("roles.soc_pct.scale", float("nan")), "roles.soc_pct.scale"),
    ("scale a string", _set("roles.soc_pct.scale", "x"), "roles.soc_pct.scale"),
    ("offset inf", _set("roles.pack_voltage_v.offset", float("inf")), "roles.pack_voltage_v.offset"),
    ("unknown state", _set("roles.gear.states", {"X": "PARK"}), "roles.gear.states"),
    ("state with no value", _set("roles.gear.states", {"P": "NOPE"}), "roles.gear.states"),
    ("states on a number", _set("roles.soc_pct.states", {"P": 1}), "roles.soc_pct.states"),
    ("mux on a plain signal", _set("roles.soc_pct.mux", 1), "roles.soc_pct.mux"),
    ("role not a table", _set("roles.soc_pct", "SOC"), "roles.soc_pct"),
    ("unknown role key", _set("roles.soc_pct.factor", 2), "roles.soc_pct"),
    ("required role missing", _drop("roles.soc_pct"), "soc_pct"),
    ("no roles", _set("roles", {}), "roles"),
    ("cycle_ms negative", _set("cycle_ms.BMS_PackStatus", -10), "cycle_ms.BMS_PackStatus"),
    ("cycle_ms nan", _set("cycle_ms.BMS_PackStatus", float("nan")), "cycle_ms.BMS_PackStatus"),
    ("cycle_ms unknown message", _set("cycle_ms.BMS_Nope", 100), "cycle_ms.BMS_Nope"),
    ("timeout_ms zero", _set("timeout_ms.BMS_PackStatus", 0), "timeout_ms.BMS_PackStatus"),
    ("stale_cycles 0", _set("timing.stale_cycles", 0.5), "timing.stale_cycles"),
    ("min_stale_ms negative", _set("timing.min_stale_ms", -1), "timing.min_stale_ms"),
    ("unknown timing key", _set("timing.stale_secs", 3), "timing"),
    ("unknown protection scheme", _set("protection.BMS_PackStatus", {"scheme": "rot13"}),
     "protection.BMS_PackStatus"),
    ("p2 without data ids", _set("protection.BMS_PackStatus", {"scheme": "autosar_p2"}), "protection.BMS_PackStatus"),
    ("p2 with 3 data ids", _set("protection.BMS_PackStatus", {"scheme": "autosar_p2", "data_ids": [1, 2, 3]}),
     "protection.BMS_PackStatus"),
    ("crc8 on a missing signal", _set("protection.BMS_PackStatus", {"scheme": "crc8", "checksum": "NoSuch"}),
     "protection.BMS_PackStatus"),
    ("protection of unknown message", _set("protection.BMS_Nope", {"scheme": "none"}), "protection.BMS_Nope"),
    ("e2e base 300", _set("e2e.BMS_PackStatus", 300), "e2e.BMS_PackStatus"),
    ("e2e base a string", _set("e2e.BMS_PackStatus", "P99"), "e2e.BMS_PackStatus"),
    ("e2e data id clash", _set("e2e.BMS_CellExtremes", 16), "e2e"),
    ("frame id moved onto another", _set("frame_id.BMS_CellExtremes", 0x100), "frame_id"),
    ("frame id negative", _set("frame_id.BMS_CellExtremes", -1), "frame_id.BMS_CellExtremes"),
    ("frame id of unknown message", _set("frame_id.BMS_Nope", 0x123), "frame_id"),
    ("ignore_ids junk", _set("bus.ignore_ids", ["zz"]), "bus.ignore_ids[0]"),
    ("ignore_ids backwards", _set("bus.ignore_ids", ["0x7FF-0x700"]), "bus.ignore_ids[0]"),
    ("receiver unknown key", _set("receiver.BMS_PackStatus", {"no_such": 1}), "receiver.BMS_PackStatus"),
    ("receiver not a table", _set("receiver.BMS_PackStatus", 5), "receiver.BMS_PackStatus"),
    ("unknown section", _set("extras", {"a": 1}), "extras"),
    ("missing dbc", _set("dbc", ["no_such.dbc"]), "dbc[0]"),
    ("dbc a number", _set("dbc", 5), "dbc"),
    ("dbc from a missing package", _set("dbc", [{"package": "no_such_pkg_hb", "path": "x.dbc"}]), "dbc[0]"),
    ("cells bad kind", _set("cells.current", {"message": "BMS_PackStatus"}), "cells.current"),
    ("cells per_frame 0", _set("cells.voltage.per_frame", 0), "cells.voltage.per_frame"),
]


def signal_map_cases(rng: random.Random) -> Iterator[Case]:
    for label, edit, entry in BAD_MAPS:
        try:
            text = _map_with(edit)
        except KeyError:
            continue
        yield Case("signal_map", label, {"scenario.toml": _short(), "lab.signals.toml": text}, "lab.signals.toml",
                   entry, map_file="lab.signals.toml")
    for label, body in _text_breakages(_bench_map_text(), rng):
        yield Case("signal_map", f"text: {label}", {"scenario.toml": _short(), "lab.signals.toml": body},
                   "lab.signals.toml", map_file="lab.signals.toml")


# -- DBCs --------------------------------------------------------------------------------------
def _dbc_texts() -> tuple[str, str]:
    bench, cu = default_dbc_paths()
    return bench.read_text(encoding="cp1252"), cu.read_text(encoding="cp1252")


def _sub(pattern: str, repl: str, *, count: int = 1) -> Callable[[str], str]:
    def edit(text: str) -> str:
        new, n = re.subn(pattern, repl, text, count=count, flags=re.MULTILINE)
        assert n, f"pattern {pattern!r} not in the bench DBC"
        return new
    return edit


def _then(*edits: Callable[[str], str]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        for one in edits:
            text = one(text)
        return text
    return edit


BAD_DBCS: list[tuple[str, Callable[[str], str], str]] = [
    ("E2E profile P99", _sub(r'^BA_ "E2EProfile" BO_ 256 "P02";', 'BA_ "E2EProfile" BO_ 256 "P99";'),
     "BMS_PackStatus"),
    ("E2E profile P05 by attribute", _sub(r'^BA_ "E2EProfile" BO_ 256 "P02";', 'BA_ "E2EProfile" BO_ 256 "P05";'),
     "BMS_PackStatus"),
    ("E2E profile on an unused message, misspelt",
     _then(_sub(r"^(BO_ 768 )", 'BO_ 1536 CAR_Extra: 8 VCU\n SG_ Extra : 0|8@1+ (1,0) [0|255] "" CU\n\n\\1'),
           _sub(r'^(BA_ "E2EProfile" BO_ 256 "P02";)', '\\1\nBA_ "E2EProfile" BO_ 1536 "P2X";')), "P2X"),
    ("E2E P02 without data id base", _sub(r'^BA_ "E2EDataIdBase" BO_ 256 16;\n', ""), "BMS_PackStatus"),
    ("duplicate frame id", _sub(r"^BO_ 257 ", "BO_ 256 "), "BMS_CellExtremes"),
    ("duplicate message name", _sub(r"^BO_ 257 \w+", "BO_ 257 BMS_PackStatus"), "BMS_PackStatus"),
    ("signal past the end", _sub(r"^( SG_ SOC : )\d+\|(\d+)", r"\g<1>60|\2"), "SOC"),
    ("signal of length 0", _sub(r"^( SG_ SOC : \d+)\|\d+", r"\1|0"), ""),
    ("garbage statement", _sub(r"^(BO_ 256 )", "BO_ GARBAGE !!!\n\\1"), ""),
    ("cycle time negative", _sub(r'^BA_ "GenMsgCycleTime" BO_ 256 20;', 'BA_ "GenMsgCycleTime" BO_ 256 -20;'),
     "BMS_PackStatus"),
    ("cycle time zero", _sub(r'^BA_ "GenMsgCycleTime" BO_ 256 20;', 'BA_ "GenMsgCycleTime" BO_ 256 0;'),
     "BMS_PackStatus"),
    ("message used by the map removed", _sub(r"^BO_ 256 BMS_PackStatus", "BO_ 256 BMS_PackStatusOld"),
     "BMS_PackStatus"),
    ("DLC 0 for a used message", _sub(r"^BO_ 256 BMS_PackStatus: 8", "BO_ 256 BMS_PackStatus: 0"), "BMS_PackStatus"),
    ("DLC 99", _sub(r"^BO_ 256 BMS_PackStatus: 8", "BO_ 256 BMS_PackStatus: 99"), "BMS_PackStatus"),
    ("signal factor 0", _sub(r"^( SG_ SOC : \d+\|\d+@\d[+-] )\([^,]+,", r"\1(0,"), "SOC"),
    ("signal minimum above maximum", _sub(r"^( SG_ SOC : \d+\|\d+@\d[+-] \([^)]*\) )\[0\|100\]", r"\1[100|0]"),
     "SOC"),
    ("E2E data id base 300", _sub(r'^BA_ "E2EDataIdBase" BO_ 256 16;', 'BA_ "E2EDataIdBase" BO_ 256 300;'),
     "BMS_PackStatus"),
    ("frame ID past 29 bits", _sub(r"^BO_ 256 ", "BO_ 4294967295 "), ""),
    ("signal wider than 64 bits", _sub(r"^( SG_ SOC : \d+)\|\d+", r"\1|65"), ""),
]


def dbc_cases(rng: random.Random) -> Iterator[Case]:
    bench, cu = _dbc_texts()
    map_text = _bench_map_text(("hilbench.dbc", "compute_unit.dbc"))
    for label, edit, entry in BAD_DBCS:
        yield Case("dbc", label, {"scenario.toml": _short(), "lab.signals.toml": map_text,
                                  "hilbench.dbc": edit(bench), "compute_unit.dbc": cu},
                   "hilbench.dbc" if "map" not in label else "lab.signals.toml", entry, map_file="lab.signals.toml")
    signal_lines = [m.start() for m in re.finditer(r"^ SG_ ", bench, flags=re.MULTILINE)]
    for _ in range(3):
        at = rng.choice(signal_lines)
        end = bench.index("\n", at)
        cut = rng.randrange(at + 5, end)
        junk = rng.choice(["", "@", "|||", "(,)", "\x00", " [", '"'])
        yield Case("dbc", f"broken SG_ at offset {at}", {"scenario.toml": _short(), "lab.signals.toml": map_text,
                                                          "hilbench.dbc": bench[:cut] + junk + bench[end:],
                                                          "compute_unit.dbc": cu},
                   "hilbench.dbc", map_file="lab.signals.toml")
    for label, body in _text_breakages(bench, rng, cut_after="|"):
        yield Case("dbc", f"text: {label}", {"scenario.toml": _short(), "lab.signals.toml": map_text,
                                             "hilbench.dbc": body, "compute_unit.dbc": cu},
                   "hilbench.dbc", map_file="lab.signals.toml")
    # The same DBCs given on the command line (--dbc overrides the map's list), and one that is not there.
    by_option = ("--dbc", "{folder}/hilbench.dbc", "--dbc", "{folder}/compute_unit.dbc")
    for label, edit, entry in rng.sample(BAD_DBCS, 6):
        if "map" in label:
            continue
        yield Case("dbc", f"--dbc {label}", {"scenario.toml": _short(), "hilbench.dbc": edit(bench),
                                             "compute_unit.dbc": cu}, "hilbench.dbc", entry, extra_args=by_option)
    yield Case("dbc", "--dbc missing file", {"scenario.toml": _short(), "compute_unit.dbc": cu}, "hilbench.dbc",
               extra_args=by_option)


# -- chemistries -------------------------------------------------------------------------------
BAD_CHEMISTRY: list[tuple[str, Any, str]] = [
    ("capacity.rated_ah", -1.0, ""), ("capacity.rated_ah", 0.0, ""), ("capacity.rated_ah", float("nan"), ""),
    ("capacity.fraction", [0.5], ""), ("capacity.temp_c", [25.0, 10.0, 0.0, 1, 2, 3, 4, 5, 6], "[1]"),
    ("capacity.temp_c", [-1000.0, -30.0, -20.0, -10.0, 0.0, 10.0, 25.0, 45.0, 60.0], "[0]"),
    ("ocv.soc", [0.0, 0.5, 0.4, 1.0], ""), ("ocv.soc", [0.1, 1.0], ""),
    ("ocv.voltage_v", [3.0] * 15, ""), ("ocv.voltage_v", [9.0] * 15, ""),
    ("ocv.entropic_v_per_k", 1.0, ""), ("voltage.min_v", 5.0, "voltage."), ("voltage.max_v", "high", ""),
    ("voltage.nominal_v", float("inf"), ""), ("resistance.r0_ohm", -0.001, ""), ("resistance.r0_ohm", 0.0, ""),
    ("resistance.activation_temp_k", -1.0, ""), ("resistance.activation_temp_k", 1e6, ""),
    ("resistance.rc_tau_s", [15.0], ""), ("temperature_limits.discharge_min_c", -1000.0, ""),
    ("temperature_limits.discharge_max_c", 1e29, ""), ("temperature_limits.charge_max_c", -50.0, ""),
    ("thermal.cell_mass_kg", 0.0, ""), ("thermal.specific_heat_j_per_kg_k", "lots", ""),
    ("life.cycle_life", 0, ""), ("life.cycle_life", 1.5, ""), ("pack.series_400v", 0, ""),
    ("pack.parallel", -1, ""), ("pack.volts", 400, ""), ("name", 5, ""), ("colour", "blue", ""),
    ("sources.ocv", 5, ""),
]


def chemistry_cases(rng: random.Random) -> Iterator[Case]:
    scenario = dict(SHORT_SCENARIO, initial={"chemistry": "cell.toml", "soc_pct": 60.0})
    bases = sorted(CHEMISTRY_DIR.glob("*.toml"))
    for key, value, suffix in BAD_CHEMISTRY:
        data = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        _set(key, value)(data)
        entry = suffix if suffix.endswith(".") else key + suffix
        yield Case("chemistry", f"{key}={value!r}", {"scenario.toml": dumps(scenario), "cell.toml": dumps(data)},
                   "cell.toml", entry)
    for table in ("voltage", "ocv", "pack"):
        data = tomllib.loads(rng.choice(bases).read_text(encoding="utf-8"))
        del data[table]
        yield Case("chemistry", f"no [{table}]", {"scenario.toml": dumps(scenario), "cell.toml": dumps(data)},
                   "cell.toml", table)
    for label, body in _text_breakages(rng.choice(bases).read_text(encoding="utf-8"), rng):
        yield Case("chemistry", f"text: {label}", {"scenario.toml": dumps(scenario), "cell.toml": body}, "cell.toml")


BUILDERS: dict[str, Callable[[random.Random], Iterator[Case]]] = {
    "scenario": scenario_cases, "signal_map": signal_map_cases, "dbc": dbc_cases, "chemistry": chemistry_cases,
}


def corpus(seed: int = 0, rounds: int = 1) -> list[Case]:
    """Every malformed case, ``rounds`` times over (each round picks other bases and cuts)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for _ in range(rounds):
        for build in BUILDERS.values():
            cases.extend(build(rng))
    return cases


# -- running a case ----------------------------------------------------------------------------
class Hang(Exception):
    """The run took longer than its time bound."""


@dataclass
class Outcome:
    code: int | None            # exit code; None when an exception escaped main() or the run hung
    out: str = ""
    err: str = ""
    escaped: BaseException | None = None
    hung: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.hung:
            return "hang"
        if self.escaped is not None:
            return "traceback"
        if self.code == 2 and not self.problems:
            return "clean"
        if self.code in (0, 1):
            return "accepted"
        return "unclean"


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after ``seconds`` of wall time (SIGALRM)."""
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _restored(signum: int, handler: Any) -> Iterator[None]:
    try:
        yield
    finally:
        signal.signal(signum, handler)


def run_main(argv: list[str], *, timeout_s: float = 60.0) -> Outcome:
    """``hilbench`` in this process: exit code, output, and whatever escaped ``main()``."""
    from hilbench.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    outcome = Outcome(None)
    sigterm = signal.getsignal(signal.SIGTERM)   # main() installs its own; the test process keeps its
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _restored(signal.SIGTERM, sigterm):
        try:
            with time_bound(timeout_s):
                outcome.code = main(argv)
        except SystemExit as exc:       # argparse
            outcome.code = exc.code if isinstance(exc.code, int) else 2
        except Hang:
            outcome.hung = True
        except BaseException as exc:    # noqa: BLE001 -- what escapes main() is what the corpus counts
            outcome.escaped = exc
    outcome.out, outcome.err = out.getvalue(), err.getvalue()
    return outcome


def run_case(case: Case, folder: Path, *, timeout_s: float = 60.0) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    case.write(folder)
    outcome = run_main(case.argv(folder), timeout_s=timeout_s)
    if outcome.code == 2:
        outcome.problems = clean_error_problems(outcome.err, case)
    return outcome


def clean_error_problems(err: str, case: Case) -> list[str]:
    """What is wrong with an exit-2 error text: a traceback, no ``error:``, the broken file or entry unnamed."""
    problems = []
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    if "error:" not in err:
        problems.append("no 'error:' line")
    if case.broken not in err:
        problems.append(f"the broken file {case.broken} is not named")
    if case.entry and case.entry not in err:
        problems.append(f"the entry {case.entry!r} is not named")
    return problems


def counts(outcomes: list[tuple[Case, Outcome]]) -> dict[str, dict[str, int]]:
    """Per file kind: how many cases, and how many ended clean, accepted, unclean, in a traceback or a hang."""
    table: dict[str, dict[str, int]] = {}
    for case, outcome in outcomes:
        row = table.setdefault(case.kind, {"cases": 0, "clean": 0, "accepted": 0, "unclean": 0, "traceback": 0,
                                           "hang": 0})
        row["cases"] += 1
        row[outcome.label] += 1
    return table


def unique(cases: list[Case]) -> list[Case]:
    """Each distinct input once (rounds may draw the same base and the same cut)."""
    seen: set[tuple] = set()
    out = []
    for case in cases:
        key = (case.kind, tuple(sorted((k, v if isinstance(v, bytes) else v.encode()) for k, v in case.files.items())))
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.validation.corpus [ROUNDS]``: run the corpus and print the counts per kind."""
    import sys
    import tempfile

    rounds = int((argv or sys.argv[1:] or ["2"])[0])
    cases = unique(corpus(0, rounds))
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        for index, case in enumerate(cases):
            outcomes.append((case, run_case(case, Path(folder) / f"{index:04d}", timeout_s=30.0)))
    print(f"{'kind':<12}" + "".join(f"{k:>11}" for k in ("cases", "clean", "accepted", "unclean", "traceback", "hang")))
    total: dict[str, int] = {}
    for kind, row in counts(outcomes).items():
        print(f"{kind:<12}" + "".join(f"{v:>11}" for v in row.values()))
        for k, v in row.items():
            total[k] = total.get(k, 0) + v
    print(f"{'total':<12}" + "".join(f"{v:>11}" for v in total.values()))
    for case, outcome in outcomes:
        if outcome.label != "clean":
            print(f"  {case.kind} {case.name}: {outcome.label} {outcome.problems or outcome.escaped or outcome.code}")
    return 0 if total.get("clean") == total.get("cases") else 1


if __name__ == "__main__":
    raise SystemExit(main())
