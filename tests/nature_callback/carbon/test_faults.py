"""Every fault mode of a live service: the value used, its source label, the time spent.

The monitor never raises: it keeps the last good value (marked stale) or falls back to the
embedded table, saying so once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from nature_callback.carbon import (
    CarbonMonitor,
    ElectricityMaps,
    HttpConfig,
    IntensityCache,
    UKGrid,
    WattTime,
    load_table,
)
from nature_callback.carbon.http import _retry_after_s
from nature_callback.exceptions import CarbonError, CarbonWarning
from tests.nature_callback.carbon.conftest import (
    FAST,
    FAULT_BOUND_S,
    TOKEN,
    WT_PASSWORD,
    WT_USER,
)
from tests.nature_callback.carbon.fake_services import (
    FakeService,
    Reply,
    em_latest,
    uk_national,
    wt_points,
)

LATEST = "/v3/carbon-intensity/latest"
GERMANY = load_table()["DE"].g_per_kwh


@dataclass(frozen=True)
class Fault:
    """A scripted failure, the error it must produce and how many requests it may take."""

    reply: Reply
    error: str
    requests: int = 1


FAULTS = {
    "slow past the read timeout": Fault(Reply(em_latest(), delay_s=30), "timed out"),
    "500": Fault(Reply({"error": "internal"}, status=500), "HTTP 500", requests=3),
    "503 without body": Fault(Reply(b"", status=503), "HTTP 503", requests=3),
    "401": Fault(Reply({"error": "Invalid auth-token"}, status=401), "HTTP 401"),
    "429 with a long Retry-After (capped)": Fault(
        Reply({"error": "slow down"}, status=429, headers={"Retry-After": "120"}), "HTTP 429",
        requests=3),
    "malformed JSON": Fault(Reply(b'{"zone": "DE", "carbonIntensity": 4'), "malformed JSON"),
    "value is a string": Fault(Reply(em_latest("466")), "should be int or float, got str"),
    "value is null": Fault(Reply(em_latest(None)), "got NoneType"),
    "value is a boolean": Fault(Reply(em_latest(True)), "got bool"),
    "zone is a number": Fault(Reply(em_latest(zone=7)), "'zone' should be str"),
    "body is a list": Fault(Reply([1, 2, 3]), "lacks it"),
    "value missing": Fault(Reply({"zone": "DE"}), "expected 'carbonIntensity'"),
    "negative value": Fault(Reply(em_latest(-5)), "outside the plausible range"),
    "absurd value": Fault(Reply(em_latest(1e6)), "outside the plausible range"),
    "NaN value": Fault(Reply(b'{"zone": "DE", "carbonIntensity": NaN}'), "not a finite number"),
    "bad timestamp": Fault(Reply(em_latest(datetime="yesterday")), "not an ISO 8601 time"),
    "oversized body (declared)": Fault(Reply(b" " * 5000), "exceeds max_body_bytes=4096"),
    "oversized body (streamed)": Fault(Reply(b" " * 5000, declare_length=False),
                                       "exceeds max_body_bytes=4096"),
    "connection closed mid-response": Fault(Reply(em_latest(), send_bytes=20),
                                            "connection failed"),
    "slow drip past the deadline": Fault(Reply(em_latest(), drip_s=0.05, send_bytes=60),
                                         "within deadline_s=0.5 s"),  # the drip lasts 3 s
    "invalid UTF-8": Fault(Reply(b'{"zone": "DE\xff", "carbonIntensity": 466}'),
                           "not UTF-8 text"),
    "deeply nested JSON": Fault(Reply(b"[" * 4000), "nested too deeply"),
    "500 with a deeply nested body": Fault(Reply(b"[" * 4000, status=500), "HTTP 500",
                                           requests=3),
}


def em_monitor(service: FakeService, cache: IntensityCache) -> CarbonMonitor:
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    return CarbonMonitor(provider, cache=cache)


def timed_refresh(monitor: CarbonMonitor) -> tuple[object, float]:
    started = time.perf_counter()
    with pytest.warns(CarbonWarning, match="electricitymaps failed"):
        used = monitor.refresh_now()
    return used, time.perf_counter() - started


@pytest.mark.parametrize("name", FAULTS)
def test_fault_falls_back_to_the_embedded_table(name: str, service: FakeService,
                                                cache: IntensityCache) -> None:
    fault = FAULTS[name]
    service.route(LATEST, fault.reply)
    monitor = em_monitor(service, cache)
    used, elapsed = timed_refresh(monitor)
    assert used == monitor.current()
    assert used.g_per_kwh == GERMANY
    assert used.source.startswith("embedded table DE (Ember")
    assert "fallback, electricitymaps unavailable" in used.source
    assert used.is_estimated and not used.is_stale
    assert fault.error in monitor.last_error
    assert len(service.requests_to(LATEST)) == fault.requests
    assert elapsed < FAULT_BOUND_S
    assert (monitor.attempts, monitor.failures) == (1, 1)


@pytest.mark.parametrize("name", FAULTS)
def test_fault_after_a_good_value_keeps_it_marked_stale(name: str, service: FakeService,
                                                        cache: IntensityCache) -> None:
    fault = FAULTS[name]
    service.route(LATEST, Reply(em_latest(300)), fault.reply)
    monitor = em_monitor(service, cache)
    assert monitor.refresh_now().g_per_kwh == 300.0
    used, elapsed = timed_refresh(monitor)
    assert used.g_per_kwh == 300.0
    assert used.is_stale
    assert used.source.startswith("electricitymaps (lifecycle); stale, fetched ")
    assert "electricitymaps unavailable" in used.source
    assert fault.error in monitor.last_error
    assert elapsed < FAULT_BOUND_S


def test_stale_value_gives_way_to_the_table_after_max_stale(service: FakeService,
                                                            cache: IntensityCache) -> None:
    service.route(LATEST, Reply(em_latest(300)), Reply(b"", status=500))
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    monitor = CarbonMonitor(provider, cache=cache, max_stale_s=0.05)
    monitor.refresh_now()
    time.sleep(0.1)
    with pytest.warns(CarbonWarning):
        used = monitor.refresh_now()
    assert used.g_per_kwh == GERMANY and not used.is_stale


def test_failures_warn_once_then_log_at_debug(service: FakeService, cache: IntensityCache,
                                              caplog: pytest.LogCaptureFixture) -> None:
    service.route(LATEST, Reply(b"", status=500))
    monitor = em_monitor(service, cache)
    caplog.set_level("DEBUG", logger="nature_callback.carbon")
    with pytest.warns(CarbonWarning) as record:
        for _ in range(3):
            monitor.refresh_now()
    assert sum(issubclass(w.category, CarbonWarning) for w in record) == 1
    assert caplog.text.count("failed again") == 2
    assert monitor.failures == 3


class RecordedWaits(threading.Event):
    """A stop event that records each back-off wait and returns at once (no sleeping)."""

    def __init__(self, stop: bool = False) -> None:
        super().__init__()
        self.waits_s: list[float | None] = []
        self.stop = stop

    def wait(self, timeout: float | None = None) -> bool:
        self.waits_s.append(timeout)
        return self.stop


@pytest.mark.parametrize(("headers", "waits_s"), [
    ({"Retry-After": "0.15"}, [0.15, 0.15, 0.15]),  # honoured
    ({"Retry-After": "120"}, [1.0, 1.0, 1.0]),  # capped at retry_after_cap_s
    ({}, [0.01, 0.02, 0.03]),  # doubling from backoff_base_s, capped at backoff_cap_s
])
def test_waits_between_retries(headers: dict[str, str], waits_s: list[float],
                               service: FakeService) -> None:
    too_many = Reply(b"", status=429, headers=headers)
    service.route(LATEST, too_many, too_many, too_many, Reply(em_latest(410)))
    config = HttpConfig(connect_timeout_s=0.5, read_timeout_s=0.5, max_retries=3,
                        backoff_base_s=0.01, backoff_cap_s=0.03, retry_after_cap_s=1.0)
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=config)
    waits = RecordedWaits()
    provider.use_stop_event(waits)
    assert provider.intensity().g_per_kwh == 410.0
    assert waits.waits_s == pytest.approx(waits_s, abs=1e-9)


def test_stop_interrupts_the_wait_before_a_retry(service: FakeService) -> None:
    service.route(LATEST, Reply(b"", status=503), Reply(em_latest(410)))
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    provider.use_stop_event(RecordedWaits(stop=True))
    with pytest.raises(CarbonError, match="stopped while waiting to retry"):
        provider.intensity()
    assert len(service.requests_to(LATEST)) == 1


def test_a_slow_drip_is_cut_at_the_deadline(service: FakeService) -> None:
    # one byte every 0.05 s never trips the 0.5 s read timeout; unbounded, the drip lasts 2.5 s
    service.route(LATEST, Reply(em_latest(), drip_s=0.05, send_bytes=50))
    config = HttpConfig(connect_timeout_s=0.5, read_timeout_s=0.5, deadline_s=0.2)
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=config)
    started = time.perf_counter()
    with pytest.raises(CarbonError, match=r"no complete response .* within deadline_s=0.2 s"):
        provider.intensity()
    assert time.perf_counter() - started < 5 * (0.2 + 0.05)  # deadline + one drip interval


DEEP = 20_000
"""Nesting far past Python's recursion limit (1000), as a hostile or broken server may send."""


@pytest.mark.parametrize(("body", "error"), [
    (b'{"zone": "DE", "carbonIntensity": 466, "note": "\xc3\x28"}',
     r"not UTF-8 text \(invalid byte 0xc3 at offset 48\)"),
    (b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
])
def test_undecodable_bodies_raise_carbon_error(body: bytes, error: str,
                                               service: FakeService) -> None:
    service.route(LATEST, Reply(body))
    config = HttpConfig(connect_timeout_s=0.5, read_timeout_s=0.5, max_body_bytes=len(body))
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=config)
    with pytest.raises(CarbonError, match=error) as raised:
        provider.intensity()
    assert str(raised.value).startswith("electricitymaps: ")


def test_retry_after_parsing() -> None:
    assert _retry_after_s("7") == 7.0
    assert _retry_after_s(None) is None and _retry_after_s("soon") is None
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 55 < _retry_after_s(in_a_minute) <= 60


def test_refused_connection(cache: IntensityCache) -> None:
    closed = FakeService()
    url = closed.url
    closed.close()
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=url, http=FAST)
    monitor = CarbonMonitor(provider, cache=cache)
    used, elapsed = timed_refresh(monitor)
    assert used.g_per_kwh == GERMANY and "connection failed" in monitor.last_error
    assert elapsed < FAULT_BOUND_S


@pytest.mark.parametrize(("reply", "error"), [
    (Reply(b"", status=500), "HTTP 500"),
    (Reply(b"<html>", status=200), "malformed JSON"),
    (Reply(uk_national(actual=None, forecast="high")), "'forecast' should be int or float"),
    (Reply({"data": []}), "expected 0 in a list"),
    (Reply(uk_national(actual=-1)), "outside the plausible range"),
])
def test_ukgrid_faults_fall_back_to_the_gb_row(reply: Reply, error: str, service: FakeService,
                                               cache: IntensityCache) -> None:
    service.route("/intensity", reply)
    monitor = CarbonMonitor(UKGrid(base_url=service.url, http=FAST), cache=cache)
    with pytest.warns(CarbonWarning, match="ukgrid failed"):
        used = monitor.refresh_now()
    assert used.g_per_kwh == load_table()["GB"].g_per_kwh
    assert used.source.startswith("embedded table GB") and "ukgrid unavailable" in used.source
    assert error in monitor.last_error


@pytest.mark.parametrize(("login", "forecast", "error"), [
    (Reply({"error": "bad password"}, status=401), Reply(wt_points(900.0)), "HTTP 401"),
    (Reply({"no": "token"}), Reply(wt_points(900.0)), "expected 'token'"),
    (Reply({"token": "t"}), Reply(wt_points(1e7)), "outside the plausible range"),
    (Reply({"token": "t"}), Reply(wt_points(900.0, units="furlongs")), "unknown units"),
    (Reply({"token": "t"}), Reply({"data": [], "meta": {}}), "expected 0 in a list"),
])
def test_watttime_faults_fall_back_to_the_table(login: Reply, forecast: Reply, error: str,
                                                service: FakeService,
                                                cache: IntensityCache) -> None:
    service.route("/login", login)
    service.route("/v3/forecast", forecast)
    provider = WattTime(WT_USER, WT_PASSWORD, "CAISO_NORTH", country="US", base_url=service.url,
                        http=FAST)
    monitor = CarbonMonitor(provider, cache=cache)
    with pytest.warns(CarbonWarning, match="watttime failed"):
        used = monitor.refresh_now()
    assert used.g_per_kwh == load_table()["US"].g_per_kwh
    assert "watttime unavailable" in used.source
    assert error in monitor.last_error


def test_watttime_signal_index_out_of_range(service: FakeService, cache: IntensityCache) -> None:
    service.route("/login", Reply({"token": "t"}))
    service.route("/v3/forecast", Reply({"error": "no access"}, status=403))
    service.route("/v3/signal-index", Reply(wt_points(150.0, units="percentile")))
    provider = WattTime(WT_USER, WT_PASSWORD, "CAISO_NORTH", country="US", base_url=service.url,
                        http=FAST)
    monitor = CarbonMonitor(provider, cache=cache)
    with pytest.warns(CarbonWarning):
        monitor.refresh_now()
    assert "not a percentile" in monitor.last_error


def test_background_thread_survives_every_fault(service: FakeService,
                                                cache: IntensityCache) -> None:
    faults = [fault for name, fault in FAULTS.items() if "slow" not in name]
    replies = [fault.reply for fault in faults for _ in range(fault.requests)]
    service.route(LATEST, *replies, Reply(em_latest(333)))
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    monitor = CarbonMonitor(provider, cache=cache, retry_interval_s=0.001,
                            refresh_interval_s=0.01)
    with pytest.warns(CarbonWarning):
        monitor.start()
        try:
            assert monitor.wait_for_refresh(len(faults) + 1, timeout_s=20)
            seen = monitor.current()
        finally:
            monitor.close()
    assert monitor.failures == len(faults)
    assert seen.g_per_kwh == 333.0 and not seen.is_stale
    assert monitor.last_error is None
