"""Small hand-written bus descriptions for scenario tests: a signal map lacking some roles, a car's DBC
overlaid with a message the bench neither sends nor maps, and scenario files written into a folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hilbench.bus import default_dbc_paths, default_signal_map_path
from hilbench.scenarios import Scenario, load_scenario

#: A message a car's DBC describes and the bench never sends: 1000 ms cycle, no role in it.
CAR_MESSAGE = "CAR_BodyStatus"
CAR_MESSAGE_ID = 0x600


def map_without(folder: Path, *roles: str) -> Path:
    """The bench's own signal map with ``roles`` left out, as a lab's map that lacks them (same DBCs)."""
    lines = default_signal_map_path().read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.split("=")[0].strip() not in roles]
    assert len(lines) - len(kept) == len(roles), f"not all of {roles} were in the bench map"
    dbcs = ", ".join(f'"{path.as_posix()}"' for path in default_dbc_paths())
    kept = [f"dbc = [{dbcs}]" if line.startswith("dbc =") else line for line in kept]
    path = folder / "lab.signals.toml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def car_dbcs(folder: Path) -> tuple[Path, ...]:
    """The bench's DBCs with a car's DBC overlaid: one message (1000 ms cycle) no role is in, nobody sends."""
    path = folder / "car.dbc"
    path.write_text(f"""VERSION "car 1"

BS_:

BU_: BODY GW

BO_ {CAR_MESSAGE_ID} {CAR_MESSAGE}: 8 BODY
 SG_ DoorsLocked : 0|1@1+ (1,0) [0|1] "" GW

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ {CAR_MESSAGE_ID} 1000;
""", encoding="utf-8")
    return (*default_dbc_paths(), path)


def scenario_file(folder: Path, name: str, body: str, *, duration: str = "6 s") -> Path:
    """A scenario file ``name``.toml in ``folder``: a [scenario] header, then ``body`` (steps, checks)."""
    path = folder / f"{name}.toml"
    path.write_text(f'[scenario]\nname = "{name}"\nduration = "{duration}"\n\n[initial]\nsoc_pct = 60.0\n\n'
                    + textwrap.dedent(body), encoding="utf-8")
    return path


def scenario(folder: Path, name: str, body: str, *, duration: str = "6 s") -> Scenario:
    return load_scenario(scenario_file(folder, name, body, duration=duration))
