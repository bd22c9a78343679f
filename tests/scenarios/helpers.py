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


def map_without(folder: Path, *roles: str, extra: str = "") -> Path:
    """The bench's own signal map with ``roles`` left out, as a lab's map that lacks them (same DBCs),
    and ``extra`` TOML (more tables) at the end."""
    lines = default_signal_map_path().read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.split("=")[0].strip() not in roles]
    assert len(lines) - len(kept) == len(roles), f"not all of {roles} were in the bench map"
    dbcs = ", ".join(f'"{path.as_posix()}"' for path in default_dbc_paths())
    kept = [f"dbc = [{dbcs}]" if line.startswith("dbc =") else line for line in kept]
    path = folder / "lab.signals.toml"
    path.write_text("\n".join(kept) + "\n" + textwrap.dedent(extra), encoding="utf-8")
    return path


def car_dbcs(folder: Path, *, reserve_min_pct: float = 0.0) -> tuple[Path, ...]:
    """The bench's DBCs with a car's DBC overlaid: one message (1000 ms cycle) no role is in, that
    nobody sends, with two overlapping signals (cantools' strict load refuses it; unmapped, it is a
    warning).  With ``reserve_min_pct`` the bench DBC's range reserve signal starts there instead of 0."""
    bench_dbc, cu_dbc = default_dbc_paths()
    if reserve_min_pct:
        text = bench_dbc.read_text(encoding="utf-8")
        old = 'SG_ RangeReserveSOC : 40|8@1+ (0.5,0) [0|100] "%"'
        assert old in text, "the bench DBC's reserve signal changed"
        bench_dbc = folder / "hilbench.dbc"
        bench_dbc.write_text(text.replace(old, old.replace("[0|100]", f"[{reserve_min_pct:g}|100]")),
                             encoding="utf-8")
    path = folder / "car.dbc"
    path.write_text(f"""VERSION "car 1"

BS_:

BU_: BODY GW

BO_ {CAR_MESSAGE_ID} {CAR_MESSAGE}: 8 BODY
 SG_ DoorsLocked : 0|1@1+ (1,0) [0|1] "" GW
 SG_ DoorsOpen : 0|2@1+ (1,0) [0|3] "" GW

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ {CAR_MESSAGE_ID} 1000;
""", encoding="utf-8")
    return (bench_dbc, cu_dbc, path)


#: A car's VCU message with the car's own counter and checksum (a byte sum), carrying the gear.
CAR_VCU = "CAR_Vcu"
CAR_VCU_ID = 0x500


def protected_car(folder: Path) -> tuple[tuple[Path, ...], Path]:
    """DBCs and a signal map where gear, ignition and reserve come in a car message protected by the car's
    own scheme (sum checksum over the payload and the frame ID, 4-bit counter), the rest as on the bench."""
    car = folder / "car_vcu.dbc"
    car.write_text(f"""VERSION "car 1"

BS_:

BU_: VCU GW

BO_ {CAR_VCU_ID} {CAR_VCU}: 8 VCU
 SG_ Prndl : 0|3@1+ (1,0) [0|7] "" GW
 SG_ Ign : 3|1@1+ (1,0) [0|1] "" GW
 SG_ Reserve : 8|8@1+ (0.5,0) [0|100] "%" GW
 SG_ Counter : 52|4@1+ (1,0) [0|15] "" GW
 SG_ Checksum : 56|8@1+ (1,0) [0|255] "" GW

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ {CAR_VCU_ID} 100;
""", encoding="utf-8")
    moved = {
        "gear": f'{{ message = "{CAR_VCU}", signal = "Prndl", states = {{ P = 0, R = 1, N = 2, D = 4 }} }}',
        "ignition_on": f'{{ message = "{CAR_VCU}", signal = "Ign" }}',
        "range_reserve_soc_pct": f'{{ message = "{CAR_VCU}", signal = "Reserve" }}',
    }
    lines = []
    for line in default_signal_map_path().read_text(encoding="utf-8").splitlines():
        key = line.split("=")[0].strip()
        if line.startswith("dbc ="):
            line = "dbc = [" + ", ".join(f'"{p.as_posix()}"' for p in (*default_dbc_paths(), car)) + "]"
        elif key in moved:
            line = f"{key} = {moved[key]}"
        lines.append(line)
    lines += ["", f"[protection.{CAR_VCU}]", 'scheme = "sum"', 'checksum = "Checksum"', 'counter = "Counter"',
              'frame_id_bytes = "le"']
    smap = folder / "car.signals.toml"
    smap.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return (*default_dbc_paths(), car), smap


def scenario_file(folder: Path, name: str, body: str, *, duration: str = "6 s") -> Path:
    """A scenario file ``name``.toml in ``folder``: a [scenario] header, then ``body`` (steps, checks)."""
    path = folder / f"{name}.toml"
    path.write_text(f'[scenario]\nname = "{name}"\nduration = "{duration}"\n\n[initial]\nsoc_pct = 60.0\n\n'
                    + textwrap.dedent(body), encoding="utf-8")
    return path


def scenario(folder: Path, name: str, body: str, *, duration: str = "6 s") -> Scenario:
    return load_scenario(scenario_file(folder, name, body, duration=duration))
