"""Emulated OBC/EVSE: control pilot on the bus, and a charger that obeys (and outlives) the BMS."""

from __future__ import annotations

import pytest

from hilbench.nodes.obc import BMS_TIMEOUT_S


def test_plugging_in_gives_cp_state_c_and_charges_the_pack(make_bench) -> None:
    bench = make_bench(soc_pct=50.0)
    bench.run_for(5.0)
    latest = bench.monitor.latest
    assert latest["cp_state"] == "A" and latest["plug_present"] == 0
    assert latest["pack_current_a"] > 0            # parked loads discharge the pack
    soc_before = bench.pack.soc

    bench.evse.plug_in()
    bench.run_for(15.0)
    latest = bench.monitor.latest
    assert latest["cp_state"] == "C"
    assert latest["plug_present"] == 1
    assert latest["pilot_duty_pct"] == pytest.approx(16 / 0.6, abs=0.5)   # 16 A EVSE
    assert latest["evse_max_current_a"] == pytest.approx(16.0, abs=0.5)
    assert latest["charge_current_a"] > 5.0
    assert latest["charge_power_w"] > 5_000
    assert latest["pack_current_a"] < -5.0         # negative: into the pack
    assert bench.pack.current_a < -5.0
    assert bench.pack.soc > soc_before


def test_unplugging_stops_the_charge(make_bench) -> None:
    bench = make_bench(plugged_in=True)
    bench.run_for(10.0)
    assert bench.monitor.latest["pack_current_a"] < 0
    bench.evse.unplug()
    bench.run_for(2.0)
    latest = bench.monitor.latest
    assert latest["cp_state"] == "A"
    assert latest["charge_current_a"] == 0.0
    assert latest["pack_current_a"] > 0


def test_charger_current_stays_within_the_bms_charge_limit(make_bench) -> None:
    # cold pack (5 C: 2 C into the derate band, which starts 3 C above the charge limit):
    # the BMS derates CCL to a fraction of the AC capability
    bench = make_bench(plugged_in=True, evse_max_current_a=32.0, ambient_c=5.0, pack_temp_c=5.0)
    bench.run_for(20.0)
    ccl = bench.monitor.latest["charge_current_limit_a"]
    assert 0 < ccl < bench.charger.ac_limit_dc_a(bench.pack.pack_voltage_v)
    assert bench.charger.dc_current_a <= ccl + 0.1
    assert bench.charger.dc_current_a == pytest.approx(ccl, abs=0.5)


def test_charge_stops_when_the_bms_goes_silent_and_resumes_when_it_returns(make_bench) -> None:
    bench = make_bench(plugged_in=True)
    bench.run_for(20.0)
    assert bench.obc.granted_ccl_a > 0
    assert bench.charger.dc_current_a > 5.0
    limits_seen = bench.monitor.stats["BMS_Limits"].count

    bench.bms.silent = True
    bench.run_for(BMS_TIMEOUT_S / 2)
    assert bench.monitor.stats["BMS_Limits"].count == limits_seen     # the BMS really is silent
    assert bench.obc.granted_ccl_a > 0, "a single missed cycle must not stop the charge"
    bench.run_for(BMS_TIMEOUT_S / 2 + 0.3)
    assert not bench.obc.bms_alive
    assert bench.obc.granted_ccl_a == 0.0
    assert bench.charger.dc_current_a == 0.0
    assert bench.pack.current_a > 0                     # only the parked loads now
    bench.run_for(0.2)
    assert bench.monitor.latest["charge_current_a"] == 0.0
    assert BMS_TIMEOUT_S <= 1.0                         # DOMAIN.md: lost after 3-10 missed 100 ms cycles

    bench.bms.silent = False
    bench.run_for(5.0)
    assert bench.obc.granted_ccl_a > 0
    assert bench.charger.dc_current_a > 5.0


def test_no_charge_before_the_bms_has_ever_spoken(make_bench) -> None:
    bench = make_bench(plugged_in=True, emulate=frozenset({"vcu", "obc"}))
    bench.run_for(5.0)
    assert bench.monitor.latest["cp_state"] == "C"
    assert bench.obc.granted_ccl_a == 0.0
    assert bench.charger.dc_current_a == 0.0


def test_charger_ignores_limit_frames_that_fail_the_e2e_check(make_bench) -> None:
    bench = make_bench(plugged_in=True, soc_pct=50.0)
    bench.run_for(5.0)
    good = bench.obc.ccl_a
    assert good > 0
    limits = bench.signal_map.binding("charge_current_limit_a").message
    forger = bench.codec.fresh_sender(limits)

    def corrupt(name, msg):
        if name != limits:
            return msg
        fake = bytearray(forger.encode({**bench.bms.values, "charge_current_limit_a": good / 2}).data)
        fake[0] ^= 0xFF                      # the CRC no longer matches: a corrupted frame
        msg.data = fake
        return msg

    bench.bms.tx_filters.append(corrupt)
    bench.run_for(1.0)
    assert bench.monitor.e2e_errors > 0
    assert bench.obc.ccl_a == good           # the forged half limit was never used
