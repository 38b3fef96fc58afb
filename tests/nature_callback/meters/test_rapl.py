"""RaplMeter against a temporary directory laid out like /sys/class/powercap."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from nature_callback.exceptions import ConfigurationError, MeterWarning
from nature_callback.meters import RaplMeter, probe_rapl
from nature_callback.meters.rapl import POLLER_THREAD_NAME, resolve_powercap_root
from tests.nature_callback.meters.fakes import FakePowercap, meter_threads, run_as_nobody


def _record(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught if issubclass(w.category, MeterWarning)]


def _energies(meter: RaplMeter) -> dict[str, float]:
    return {r.device: r.energy_j for r in meter.read()}


def _server(powercap: FakePowercap, packages: int = 1) -> None:
    """Intel server layout: package, core/uncore/dram subzones, a psys zone."""
    for n in range(packages):
        powercap.add_zone(f"intel-rapl:{n}", f"package-{n}", energy_uj=1_000_000)
        powercap.add_zone(f"intel-rapl:{n}:0", "core", energy_uj=500_000)
        powercap.add_zone(f"intel-rapl:{n}:1", "uncore", energy_uj=100_000)
        powercap.add_zone(f"intel-rapl:{n}:2", "dram", energy_uj=2_000_000)
    powercap.add_zone(f"intel-rapl:{packages}", "psys", energy_uj=9_000_000)


def test_package_and_dram_counted_core_uncore_psys_skipped(powercap: FakePowercap) -> None:
    _server(powercap)
    probe = probe_rapl(powercap.root)
    assert probe.status == "ok" and probe.message == ""
    assert [(z.zone_id, z.device, z.kind) for z in probe.zones] == [
        ("intel-rapl:0", "cpu0", "cpu"), ("intel-rapl:0:2", "dram0", "dram")]
    skipped = " | ".join(probe.skipped)
    assert "intel-rapl:0:0 (core)" in skipped and "intel-rapl:0:1 (uncore)" in skipped
    assert "psys" in skipped

    meter = RaplMeter(powercap.root)
    meter.start()
    powercap.set_energy("intel-rapl:0", 6_000_000)      # +5 J
    powercap.set_energy("intel-rapl:0:0", 4_500_000)    # core +4 J: inside the package
    powercap.set_energy("intel-rapl:0:2", 3_250_000)    # +1.25 J
    powercap.set_energy("intel-rapl:1", 99_000_000)     # psys: not counted
    readings = meter.read()
    meter.stop()
    assert {r.device: r.energy_j for r in readings} == pytest.approx({"cpu0": 5.0, "dram0": 1.25})
    assert all(r.source == "measured" and r.ok for r in readings)
    assert "package-0 (RAPL intel-rapl:0)" in readings[0].description
    assert readings[1].description == "DRAM (dram) (RAPL intel-rapl:0:2)"


def test_two_packages(powercap: FakePowercap) -> None:
    _server(powercap, packages=2)
    meter = RaplMeter(powercap.root)
    meter.start()
    powercap.set_energy("intel-rapl:1", 3_000_000)
    energies = _energies(meter)
    meter.stop()
    assert energies == pytest.approx({"cpu0": 0.0, "dram0": 0.0, "cpu1": 2.0, "dram1": 0.0})


def test_wraparound_uses_max_energy_range(powercap: FakePowercap) -> None:
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=900_000, max_energy_range_uj=1_000_000)
    meter = RaplMeter(powercap.root)
    meter.start()
    powercap.set_energy("intel-rapl:0", 100_000)  # wrapped: 100 000 + 1 000 000 − 900 000
    assert _energies(meter) == pytest.approx({"cpu0": 0.2})
    powercap.set_energy("intel-rapl:0", 400_000)
    assert _energies(meter) == pytest.approx({"cpu0": 0.5})
    meter.stop()


def test_counter_going_back_without_a_range_warns_once_and_resumes(powercap: FakePowercap) -> None:
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=5_000_000, max_energy_range_uj=None)
    meter = RaplMeter(powercap.root)
    meter.start()
    powercap.set_energy("intel-rapl:0", 7_000_000)
    assert _energies(meter) == pytest.approx({"cpu0": 2.0})
    powercap.set_energy("intel-rapl:0", 10)
    energies, messages = _record(lambda: _energies(meter))
    assert energies == pytest.approx({"cpu0": 2.0})
    assert len(messages) == 1 and "went backwards" in messages[0]
    powercap.set_energy("intel-rapl:0", 1_000_010)
    energies, messages = _record(lambda: _energies(meter))
    assert energies == pytest.approx({"cpu0": 3.0}) and messages == []
    meter.stop()


def test_poller_thread_catches_wraps_between_reads(powercap: FakePowercap) -> None:
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=0, max_energy_range_uj=1_000_000)
    meter = RaplMeter(powercap.root, poll_interval_s=0.005)
    meter.start()
    try:
        assert meter_threads() == [POLLER_THREAD_NAME]
        state = meter._states[0]  # the poller's progress, observed without calling read()
        expected_j = 0.0
        for value_uj in (400_000, 800_000, 200_000, 600_000):
            powercap.set_energy("intel-rapl:0", value_uj)
            expected_j += 0.4
            deadline = time.monotonic() + 5
            while abs(state.energy_j - expected_j) > 1e-9:
                assert state.ok and time.monotonic() < deadline, "the poller missed the counter"
                time.sleep(0.002)
        # read() alone would have seen 0 → 600 000 µJ, i.e. 0.6 J; the poller saw the wrap
        assert _energies(meter) == pytest.approx({"cpu0": 1.6})
    finally:
        meter.stop()
    assert meter_threads() == []


def test_mmio_duplicate_of_an_msr_package_is_counted_once(powercap: FakePowercap) -> None:
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=0)
    powercap.add_zone("intel-rapl-mmio:0", "package-0", energy_uj=0)
    probe = probe_rapl(powercap.root)
    assert [z.zone_id for z in probe.zones] == ["intel-rapl:0"]
    assert any("intel-rapl-mmio:0" in s and "counted once" in s for s in probe.skipped)
    meter = RaplMeter(powercap.root)
    meter.start()
    powercap.set_energy("intel-rapl:0", 1_000_000)
    powercap.set_energy("intel-rapl-mmio:0", 1_000_000)
    assert _energies(meter) == pytest.approx({"cpu0": 1.0})
    meter.stop()


def test_mmio_only_package_is_counted(powercap: FakePowercap) -> None:
    powercap.add_zone("intel-rapl-mmio:0", "package-0", energy_uj=0)
    probe = probe_rapl(powercap.root)
    assert [(z.zone_id, z.device) for z in probe.zones] == [("intel-rapl-mmio:0", "cpu0")]


def test_amd_layout_and_die_zones(powercap: FakePowercap) -> None:
    # AMD Zen (Linux >= 5.8): package-N with a core subzone, no DRAM domain
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=0, max_energy_range_uj=65_532_610_987)
    powercap.add_zone("intel-rapl:0:0", "core", energy_uj=0)
    powercap.add_zone("intel-rapl:1", "package-0-die-1", energy_uj=0)
    probe = probe_rapl(powercap.root)
    assert [z.device for z in probe.zones] == ["cpu0", "cpu0-die1"]
    assert not probe.has_dram


def test_flat_tree_without_links_is_read(tmp_path: Path) -> None:
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("0\n")
    meter = RaplMeter(tmp_path)
    meter.start()
    (zone / "energy_uj").write_text("2500000\n")
    assert _energies(meter) == pytest.approx({"cpu0": 2.5})
    meter.stop()


def test_no_rapl_warns_once_and_reports_nothing(tmp_path: Path) -> None:
    probe = probe_rapl(tmp_path / "missing")
    assert probe.status == "absent" and "no RAPL package zone" in probe.message
    meter = RaplMeter(tmp_path)
    _, messages = _record(meter.start)
    assert meter.read() == []
    meter.stop()
    assert len(messages) == 1 and "no RAPL package zone" in messages[0]


def test_zone_vanishing_mid_run_warns_once_and_freezes(powercap: FakePowercap) -> None:
    _server(powercap)
    meter = RaplMeter(powercap.root)
    meter.start()
    powercap.set_energy("intel-rapl:0", 2_000_000)
    assert _energies(meter)["cpu0"] == pytest.approx(1.0)
    (powercap.zones["intel-rapl:0"] / "energy_uj").unlink()
    readings, messages = _record(meter.read)
    by_device = {r.device: r for r in readings}
    assert not by_device["cpu0"].ok and by_device["cpu0"].energy_j == pytest.approx(1.0)
    assert by_device["dram0"].ok
    assert len(messages) == 1 and "cpu0" in messages[0] and "energy_uj" in messages[0]
    _, messages = _record(meter.read)
    assert messages == []
    meter.stop()


def _permission_outcome(root: str) -> dict[str, Any]:
    probe = probe_rapl(root)
    meter = RaplMeter(root)
    _, messages = _record(meter.start)
    readings = [r.to_dict() for r in meter.read()]
    meter.stop()
    return {"status": probe.status, "message": probe.message, "warnings": messages,
            "readings": readings}


def test_permission_denied_says_how_to_grant_access(shared_powercap: FakePowercap) -> None:
    _server(shared_powercap)
    for zone in ("intel-rapl:0", "intel-rapl:0:2"):
        (shared_powercap.zones[zone] / "energy_uj").chmod(0o000)
    root = str(shared_powercap.root)
    outcome = run_as_nobody(lambda: _permission_outcome(root))
    assert outcome["status"] == "denied"
    message = outcome["message"]
    assert f"sudo chmod a+r {root}/intel-rapl*:*/energy_uj" in message
    assert "CVE-2020-8694" in message and "udev" in message and "ESTIMATED" in message
    assert len(outcome["warnings"]) == 1 and "permission denied" in outcome["warnings"][0]
    assert [(r["device"], r["ok"], r["energy_j"]) for r in outcome["readings"]] == [
        ("cpu0", False, 0.0), ("dram0", False, 0.0)]


def test_powercap_root_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_powercap_root(None) == Path("/sys/class/powercap")
    monkeypatch.setenv("NATURE_POWERCAP_ROOT", str(tmp_path))
    assert resolve_powercap_root(None) == tmp_path
    assert resolve_powercap_root("/elsewhere") == Path("/elsewhere")
    assert RaplMeter().powercap_root == tmp_path


def test_invalid_poll_interval_names_the_parameter() -> None:
    with pytest.raises(ConfigurationError, match="poll_interval_s"):
        RaplMeter(poll_interval_s=0)
