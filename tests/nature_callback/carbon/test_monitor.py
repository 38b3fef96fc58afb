"""CarbonMonitor: answers at once, refreshes in the background, caches, joins its thread."""

from __future__ import annotations

import functools
import json
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from nature_callback.carbon import (
    CarbonIntensity,
    CarbonMonitor,
    CarbonProvider,
    ElectricityMaps,
    Fixed,
    HttpConfig,
    IntensityCache,
    LiveProvider,
    load_table,
)
from nature_callback.exceptions import CarbonError, CarbonWarning, ConfigurationError
from tests.nature_callback.carbon.conftest import FAST, TOKEN
from tests.nature_callback.carbon.fake_services import FakeService, Reply, em_latest

LATEST = "/v3/carbon-intensity/latest"
GERMANY = load_table()["DE"].g_per_kwh


def refresh_threads() -> int:
    return sum(thread.name == "nature-carbon-refresh" for thread in threading.enumerate())


def em(url: str) -> ElectricityMaps:
    return ElectricityMaps(token=TOKEN, zone="DE", base_url=url, http=FAST)


class Sequence(CarbonProvider):
    """A live provider answering from a list: a number as a CarbonIntensity, an exception
    raised, anything else returned as it is (as a faulty user provider might)."""

    name = "sequence"

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)

    @property
    def country(self) -> str:
        return "DE"

    def intensity(self) -> CarbonIntensity:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, (int, float)):
            return CarbonIntensity(float(answer), zone="DE", source=f"sequence {answer}",
                                   country="DE")
        return answer  # type: ignore[return-value]


class Hanging(LiveProvider):
    """Answers 300 once, then hangs in each later lookup until released (3 s at most)."""

    name = "hanging"

    def __init__(self, deadline_s: float = 10.0) -> None:
        super().__init__("https://hanging.invalid", HttpConfig(deadline_s=deadline_s))
        self.entered = threading.Event()
        self.released = threading.Event()
        self._answered = False

    @property
    def country(self) -> str:
        return "DE"

    def intensity(self) -> CarbonIntensity:
        if not self._answered:
            self._answered = True
            return CarbonIntensity(300.0, zone="DE", source="hanging", country="DE")
        self.entered.set()
        self.released.wait(3.0)
        raise CarbonError("released")


def wait_until(condition: Callable[[], object], timeout_s: float = 3.0) -> bool:
    """Poll ``condition`` every 10 ms until it is truthy; False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_offline_provider_is_read_once_and_needs_no_thread(cache: IntensityCache) -> None:
    monitor = CarbonMonitor(Fixed(123.0), cache=cache)
    monitor.start()
    assert refresh_threads() == 0
    value = monitor.current()
    assert (value.g_per_kwh, value.source) == (123.0, "fixed (user parameter)")
    monitor.close()


SLOW_READ = HttpConfig(connect_timeout_s=0.5, read_timeout_s=5.0)
"""A request to a hanging service stays in flight for 5 s unless the service drops it."""


def test_first_value_is_immediate_while_the_service_hangs(service: FakeService,
                                                          cache: IntensityCache) -> None:
    service.route(LATEST, Reply(em_latest(), delay_s=30))
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=SLOW_READ)
    monitor = CarbonMonitor(provider, cache=cache)
    monitor.start()
    first = monitor.current()  # a blocking lookup would have ended in a timeout (5 s)
    assert first.g_per_kwh == GERMANY
    assert first.source.endswith("until electricitymaps answers")
    service.stopping.set()  # the service drops the held request: the lookup fails now
    with pytest.warns(CarbonWarning, match="connection failed"):
        assert monitor.wait_for_refresh(timeout_s=10)
    closing = time.perf_counter()
    monitor.close()  # the thread waits for its next attempt (60 s): close wakes it at once
    assert time.perf_counter() - closing < 2.0
    assert refresh_threads() == 0
    assert monitor.current().g_per_kwh == GERMANY


@pytest.mark.parametrize("hang", ["user lookup", "http request"])
def test_close_returns_at_once_and_a_late_lookup_publishes_nothing(
        hang: str, service: FakeService, cache: IntensityCache) -> None:
    provider: CarbonProvider
    if hang == "user lookup":  # answers 300, then hangs in its second lookup
        provider = hanging = Hanging()
        in_flight, release = hanging.entered.is_set, hanging.released.set
    else:  # the service holds the first request (30 s; the read timeout is 5 s)
        service.route(LATEST, Reply(em_latest(), delay_s=30))
        provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=SLOW_READ)
        in_flight = functools.partial(service.requests_to, LATEST)  # truthy once it arrived
        release = service.stopping.set  # the service drops the request
    monitor = CarbonMonitor(provider, cache=cache, refresh_interval_s=0.01)
    monitor.start()
    assert wait_until(in_flight)
    before = monitor.current()
    started = time.perf_counter()
    monitor.close()  # the default join (0.2 s), not the 3 or 5 s the lookup may still take
    assert time.perf_counter() - started < 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        release()  # the lookup now fails ...
        assert wait_until(lambda: refresh_threads() == 0)
    assert not caught  # ... and the closed monitor says and records nothing of it
    assert monitor.current() is before and monitor.failures == 0


def test_a_live_value_is_marked_stale_once_its_refresh_is_overdue(
        cache: IntensityCache) -> None:
    provider = Hanging(deadline_s=0.15)
    monitor = CarbonMonitor(provider, cache=cache, refresh_interval_s=0.05)
    started = time.time()
    monitor.start()
    try:
        assert monitor.wait_for_refresh(timeout_s=3.0)
        live = monitor.current()  # overdue only 0.05 + 0.15 s after its fetch
        assert (live.g_per_kwh, live.is_stale) == (300.0, False)
        assert provider.entered.wait(3.0)
        time.sleep(1.0)  # 5 times those 0.2 s
        overdue = monitor.current()
        assert (overdue.g_per_kwh, overdue.is_stale) == (300.0, True)
        assert overdue.source.startswith("hanging; stale, fetched ")
        assert overdue.source.endswith("refresh overdue")
        assert monitor.mean_between(started, time.time()).is_stale
    finally:
        monitor.close()
        provider.released.set()
    assert wait_until(lambda: refresh_threads() == 0)


def test_background_refresh_replaces_the_table_value(service: FakeService,
                                                     cache: IntensityCache) -> None:
    service.route(LATEST, Reply(em_latest(250)))
    with CarbonMonitor(em(service.url), cache=cache) as monitor:
        assert monitor.wait_for_refresh(timeout_s=5)
        live = monitor.current()
    assert (live.g_per_kwh, live.source, live.is_stale) == (250.0, "electricitymaps (lifecycle)",
                                                            False)
    assert refresh_threads() == 0
    saved = json.loads(cache.path.read_text())
    [entry] = saved["entries"].values()
    assert entry["intensity"]["g_per_kwh"] == 250.0
    assert not list(cache.path.parent.glob("*.tmp*"))


def test_restart_reuses_the_disk_cache_without_a_request(service: FakeService,
                                                         tmp_path: Path) -> None:
    service.route(LATEST, Reply(em_latest(250)))
    CarbonMonitor(em(service.url), cache=IntensityCache(tmp_path)).refresh_now()
    restarted = CarbonMonitor(em(service.url), cache=IntensityCache(tmp_path))
    value = restarted.current()
    assert (value.g_per_kwh, value.is_stale) == (250.0, False)
    restarted.start()
    assert not restarted.wait_for_refresh(timeout_s=0.2)  # fresh: next lookup after the TTL
    restarted.close()
    assert len(service.requests) == 1


def test_offline_restart_uses_an_old_cached_value_marked_stale(tmp_path: Path) -> None:
    provider = em("https://api.example.org")  # never asked: the monitors are not started
    fetched = CarbonIntensity(250.0, zone="DE", source="electricitymaps (lifecycle)",
                              country="DE")
    an_hour_ago = time.time() - 3600.0
    IntensityCache(tmp_path).put(provider.cache_key, fetched, fetched_at=an_hour_ago)
    value = CarbonMonitor(provider, cache=IntensityCache(tmp_path)).current()  # TTL: 15 min
    assert (value.g_per_kwh, value.is_stale) == (250.0, True)
    assert "stale, fetched" in value.source and "until electricitymaps answers" in value.source
    too_old = CarbonMonitor(provider, cache=IntensityCache(tmp_path), max_stale_s=1800.0)
    assert too_old.current().g_per_kwh == GERMANY


def test_unreadable_cache_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "carbon_intensity.json").write_text("{not json")
    with pytest.warns(CarbonWarning, match="malformed JSON"):
        monitor = CarbonMonitor(em("https://api.example.org"), cache=IntensityCache(tmp_path))
    assert monitor.current().g_per_kwh == GERMANY


def test_memory_only_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cache = IntensityCache(tmp_path / "never", disk=False)
    CarbonMonitor(Sequence(300), cache=cache).refresh_now()
    assert cache.get("sequence|DE").intensity.g_per_kwh == 300.0
    assert not (tmp_path / "never").exists()


def test_a_user_provider_raising_anything_never_escapes(cache: IntensityCache) -> None:
    monitor = CarbonMonitor(Sequence(RuntimeError("boom"), CarbonError("down"), 300),
                            cache=cache)
    with pytest.warns(CarbonWarning, match="boom"):
        assert monitor.refresh_now().g_per_kwh == GERMANY
    assert monitor.refresh_now().g_per_kwh == GERMANY
    assert monitor.last_error == "down"
    assert monitor.refresh_now().g_per_kwh == 300.0 and monitor.last_error is None


def intensity_of(g_per_kwh: object) -> CarbonIntensity:
    """A value as a faulty provider may build it (the dataclass checks nothing)."""
    return CarbonIntensity(g_per_kwh, zone="DE", source="sequence",  # type: ignore[arg-type]
                           country="DE")


@pytest.mark.parametrize(("answer", "error"), [
    (intensity_of(float("nan")), "g_per_kwh=nan is not a finite number"),
    (intensity_of(float("inf")), "g_per_kwh=inf is not a finite number"),
    (intensity_of(-500.0), "g_per_kwh=-500.0 is outside the plausible range"),
    (intensity_of(1e308), "g_per_kwh=1e+308 is outside the plausible range"),
    (intensity_of("abc"), "g_per_kwh='abc' is not a finite number"),
    ("300", "returned str, not a CarbonIntensity"),
    (None, "returned NoneType, not a CarbonIntensity"),
])
def test_an_invalid_value_from_a_user_provider_is_a_failed_lookup(
        answer: object, error: str, cache: IntensityCache) -> None:
    monitor = CarbonMonitor(Sequence(300, answer, answer), cache=cache)
    assert monitor.refresh_now().g_per_kwh == 300.0
    with pytest.warns(CarbonWarning) as record:
        kept = monitor.refresh_now()
        monitor.refresh_now()
    assert len(record) == 1 and error in str(record[0].message)
    assert (kept.g_per_kwh, kept.is_stale) == (300.0, True) and monitor.current() == kept
    assert error in monitor.last_error
    assert cache.get("sequence|DE").intensity.g_per_kwh == 300.0  # never cached


def test_an_invalid_first_value_falls_back_to_the_table(cache: IntensityCache) -> None:
    monitor = CarbonMonitor(Sequence(intensity_of(float("nan"))), cache=cache)
    with pytest.warns(CarbonWarning, match="not a finite number"):
        used = monitor.refresh_now()
    assert used.g_per_kwh == GERMANY and "fallback, sequence unavailable" in used.source


def test_an_offline_user_provider_returning_nan_falls_back(cache: IntensityCache) -> None:
    class Broken(CarbonProvider):
        is_live = False

        def intensity(self) -> CarbonIntensity:
            return intensity_of(float("nan"))

    with pytest.warns(CarbonWarning, match="not a finite number"):
        monitor = CarbonMonitor(Broken(), cache=cache)
    assert monitor.current().zone == "WORLD"


def test_offline_user_provider_failing_at_once_falls_back(cache: IntensityCache) -> None:
    class Broken(CarbonProvider):
        is_live = False

        def intensity(self) -> CarbonIntensity:
            raise OSError("disk gone")

    with pytest.warns(CarbonWarning, match="disk gone"):
        monitor = CarbonMonitor(Broken(), cache=cache)
    assert monitor.current().zone == "WORLD"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_mean_between_weights_each_value_by_its_time_in_effect(cache: IntensityCache) -> None:
    clock = FakeClock(100.0)
    monitor = CarbonMonitor(Sequence(100, 400), cache=cache, clock=clock)
    first = monitor.refresh_now()       # in effect from 100
    clock.now = 160.0
    second = monitor.refresh_now()      # in effect from 160
    mean = monitor.mean_between(100.0, 220.0)
    assert mean.g_per_kwh == pytest.approx(250.0)
    assert mean.source.startswith("time-weighted mean of ")
    assert "sequence 100 (50%)" in mean.source and "sequence 400 (50%)" in mean.source
    assert mean.zone == "DE" and mean.country == "DE"
    assert monitor.mean_between(130.0, 220.0).g_per_kwh == pytest.approx((30 * 100 + 60 * 400) / 90)
    assert monitor.mean_between(170.0, 200.0) is second
    assert monitor.mean_between(110.0, 150.0) is first
    assert monitor.mean_between(160.0, 160.0) is second
    with pytest.raises(ConfigurationError, match="before start_s"):
        monitor.mean_between(200.0, 100.0)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("refresh_interval_s", {"refresh_interval_s": -1}),
    ("retry_interval_s", {"retry_interval_s": 0}),
    ("max_stale_s", {"max_stale_s": float("nan")}),
    ("close_timeout_s", {"close_timeout_s": True}),
])
def test_monitor_settings_are_validated(name: str, kwargs: dict, cache: IntensityCache) -> None:
    with pytest.raises(ConfigurationError, match=name):
        CarbonMonitor(Fixed(1.0), cache=cache, **kwargs)


@pytest.mark.parametrize(("name", "value"), [
    ("connect_timeout_s", 0), ("read_timeout_s", -1), ("max_retries", 1.5),
    ("max_body_bytes", 0), ("backoff_cap_s", float("inf")),
])
def test_http_config_is_validated(name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=name):
        HttpConfig(**{name: value})


def test_cache_ttl_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ttl_s"):
        IntensityCache(tmp_path, ttl_s=0)
