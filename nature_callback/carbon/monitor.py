"""Keep the intensity to use now, refreshed in the background; never block or raise.

``current()`` answers at once from memory. Before the first live answer that is the
disk-cached value (marked stale once older than the TTL) or the embedded table. A failed
refresh, or a value that is not a plausible CarbonIntensity, keeps the last good value
(marked stale) for up to ``max_stale_s``, then falls back to the embedded table, and says so
once with a :class:`CarbonWarning`. A live value whose refresh is overdue (a lookup still
hanging, a thread stopped) is marked stale too. ``close()`` returns within
``close_timeout_s``; a lookup still running then publishes nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from types import TracebackType

from nature_callback.carbon.base import (
    CarbonIntensity,
    CarbonProvider,
    check_g_per_kwh,
    check_seconds,
    is_finite_number,
)
from nature_callback.carbon.cache import (
    DEFAULT_TTL_S,
    CachedIntensity,
    IntensityCache,
    default_cache,
)
from nature_callback.carbon.http import DEFAULT_DEADLINE_S
from nature_callback.carbon.live import LiveProvider
from nature_callback.carbon.table import table_intensity
from nature_callback.exceptions import CarbonError, CarbonWarning, ConfigurationError

log = logging.getLogger(__name__)

HISTORY_LENGTH = 4096
"""Values kept for :meth:`CarbonMonitor.mean_between` (42 days at one per 15 minutes)."""
DEFAULT_CLOSE_TIMEOUT_S = 0.2
"""Longest :meth:`CarbonMonitor.close` waits for the refresh thread. A thread between lookups
wakes and ends at once; one inside a lookup is a daemon that ends with its request's deadline
and publishes nothing after close, so waiting for it would only delay the end of training
(it used to take up to 9 s)."""


class CarbonMonitor:
    """The carbon intensity in effect now and over past windows, for one provider.

    Args:
        provider: where values come from. Offline providers (``is_live`` False) are read
            once, synchronously; live ones in a background thread after :meth:`start`.
        cache: memory + disk cache; default: the process-wide one (``NATURE_CACHE_DIR``).
        refresh_interval_s: seconds between live lookups; default: the cache TTL (15 min).
        retry_interval_s: first wait after a failure (doubles, up to the refresh interval).
        max_stale_s: a last good value older than this gives way to the embedded table.
        close_timeout_s: longest wait in :meth:`close` for the refresh thread (0.2 s).
        clock: wall clock stamping when each value took effect (tests pass a fake).

    A live value counts as overdue, and is marked stale, once its next refresh is late by
    more than one request deadline (``HttpConfig.deadline_s`` of a :class:`LiveProvider`,
    10 s for other providers).
    """

    def __init__(self, provider: CarbonProvider, *, cache: IntensityCache | None = None,
                 refresh_interval_s: float | None = None, retry_interval_s: float = 60.0,
                 max_stale_s: float = 24 * 3600.0, close_timeout_s: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.provider = provider
        self.clock = clock
        self._cache = cache
        self.refresh_interval_s = check_seconds(
            "refresh_interval_s",
            (cache.ttl_s if cache is not None else DEFAULT_TTL_S) if refresh_interval_s is None
            else refresh_interval_s)
        self.retry_interval_s = check_seconds("retry_interval_s", retry_interval_s)
        self.max_stale_s = check_seconds("max_stale_s", max_stale_s)
        self.close_timeout_s = check_seconds(
            "close_timeout_s",
            DEFAULT_CLOSE_TIMEOUT_S if close_timeout_s is None else close_timeout_s)
        self.overdue_grace_s = (provider.http.deadline_s if isinstance(provider, LiveProvider)
                                else DEFAULT_DEADLINE_S)
        """How late a refresh may be before the live value in use is marked stale."""
        self.attempts = 0
        """Live lookups finished (successful or not)."""
        self.failures = 0
        """Live lookups that failed."""
        self.last_error: str | None = None
        """Message of the last failure (credentials redacted), None after a success."""
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._publishing = threading.Lock()
        """Held while a lookup's outcome is published; close() waits for it, then no more."""
        self._attempted = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._history: deque[tuple[float, CarbonIntensity]] = deque(maxlen=HISTORY_LENGTH)
        self._warned = False
        self._consecutive_failures = 0
        self._last_good: CachedIntensity | None = None
        self._next_due = time.monotonic()
        if provider.is_live:
            self._adopt(self._initial_live_value())
        else:
            self._adopt(self._offline_value())

    @property
    def cache(self) -> IntensityCache:
        """The cache passed in, else the process-wide one (looked up at first use: an offline
        provider never needs it)."""
        if self._cache is None:
            self._cache = default_cache()
        return self._cache

    # ------------------------------------------------------------------ initial values
    def _lookup(self) -> CarbonIntensity:
        """``provider.intensity()``, checked: a CarbonError unless it is a CarbonIntensity with
        a finite g/kWh in the plausible range (a user-written provider may return anything)."""
        value = self.provider.intensity()
        name = self.provider.name
        if not isinstance(value, CarbonIntensity):
            raise CarbonError(f"{name}.intensity() returned {type(value).__name__}, not a "
                              "CarbonIntensity.")
        check_g_per_kwh(value.g_per_kwh, f"{name}.intensity().g_per_kwh", CarbonError)
        return value

    def _offline_value(self) -> CarbonIntensity:
        try:
            return self._lookup()
        except Exception as err:  # a user provider may raise anything: never into training
            return self._fallback(err)

    def _initial_live_value(self) -> CarbonIntensity:
        cached = self.cache.get(self.provider.cache_key)
        if cached is None or cached.age_s() > self.max_stale_s:
            return self._table_value(f"until {self.provider.name} answers")
        self._last_good = cached
        if self.cache.is_fresh(cached):
            self._next_due = time.monotonic() + self.cache.ttl_s - cached.age_s()
            return cached.intensity
        return cached.as_stale(f"until {self.provider.name} answers")

    # ------------------------------------------------------------------ refresh
    def refresh_now(self) -> CarbonIntensity:
        """One live lookup in the calling thread; returns the value now in effect (never raises).

        Used by the background thread; tools and tests may call it too (calls are serialised).
        After :meth:`close` it looks nothing up.
        """
        return self._refresh(self._stop)

    def _refresh(self, stop: threading.Event) -> CarbonIntensity:
        """A lookup whose outcome is published unless ``stop`` (its thread's) is set by then."""
        if stop.is_set():
            return self.current()
        with self._refreshing:
            try:
                value: CarbonIntensity | Exception = self._lookup()
            except Exception as err:  # CarbonError, or anything a user provider raises
                value = err
            with self._publishing:
                if stop.is_set():  # closed while the lookup ran: leave no trace
                    return self.current()
                return self._publish(value)

    def _publish(self, value: CarbonIntensity | Exception) -> CarbonIntensity:
        """Adopt a lookup's value (cache it) or its failure (fall back); schedule the next."""
        if isinstance(value, Exception):
            adopted = self._fallback(value)
        else:
            self.cache.put(self.provider.cache_key, value)
            self._last_good = CachedIntensity(value, time.time())
            adopted = value
            if self.last_error is not None:
                log.info("carbon: %s answers again.", self.provider.name)
            self.last_error = None
            self._consecutive_failures = 0
        with self._attempted:  # value and due time change together (see _mark_overdue)
            self.attempts += 1
            delay = (self.refresh_interval_s if self.last_error is None else
                     min(self.retry_interval_s * 2 ** (self._consecutive_failures - 1),
                         self.refresh_interval_s))
            self._next_due = time.monotonic() + delay
            self._history.append((self.clock(), adopted))
            self._attempted.notify_all()
        return adopted

    def _fallback(self, err: Exception) -> CarbonIntensity:
        self.failures += 1
        self._consecutive_failures += 1
        self.last_error = str(err) or type(err).__name__
        why = f"{self.provider.name} unavailable"
        good = self._last_good
        if good is not None and good.age_s() <= self.max_stale_s:
            value = good.as_stale(why)
        else:
            value = self._table_value(f"fallback, {why}")
        if not self._warned:
            self._warned = True
            warnings.warn(f"Carbon intensity: {self.provider.name} failed ({self.last_error}); "
                          f"using {value.source}. Training goes on; further failures are "
                          "logged at DEBUG level.", CarbonWarning, stacklevel=2)
        else:
            log.debug("carbon: %s failed again (%s).", self.provider.name, self.last_error)
        return value

    def _table_value(self, note: str) -> CarbonIntensity:
        """The provider's embedded-table value (``offline_fallback``), else the table's own."""
        try:
            value = self.provider.offline_fallback(note)
            if isinstance(value, CarbonIntensity):
                check_g_per_kwh(value.g_per_kwh, "offline_fallback().g_per_kwh", CarbonError)
                return value
        except Exception:  # a user provider may override it badly: never into training
            pass
        return table_intensity(self.provider.country, note=note)

    def _adopt(self, value: CarbonIntensity) -> None:
        with self._lock:
            self._history.append((self.clock(), value))

    def _mark_overdue(self) -> None:
        """With ``_lock`` held: if the live value in effect is past its refresh by more than
        ``overdue_grace_s``, put it in effect again marked stale, from the moment it became
        overdue."""
        good = self._last_good
        adopted_at, value = self._history[-1]
        if good is None or value is not good.intensity:  # a stale or fallback value is in effect
            return
        overdue_s = time.monotonic() - self._next_due - self.overdue_grace_s
        if overdue_s > 0:
            self._history.append((max(self.clock() - overdue_s, adopted_at),
                                  good.as_stale("refresh overdue")))
            log.info("carbon: the refresh of %s is overdue; its last value is marked stale.",
                     self.provider.name)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            delay = self._next_due - time.monotonic()
            if delay > 0:
                stop.wait(delay)
                continue
            self._refresh(stop)

    # ------------------------------------------------------------------ public API
    def start(self) -> None:
        """Start background refresh (live providers only); idempotent."""
        if not self.provider.is_live or (self._thread and self._thread.is_alive()):
            return
        self._stop = threading.Event()  # a thread left over from before close() keeps its own
        if isinstance(self.provider, LiveProvider):
            self.provider.use_stop_event(self._stop)
        self._thread = threading.Thread(target=self._run, args=(self._stop,),
                                        name="nature-carbon-refresh", daemon=True)
        self._thread.start()

    def current(self) -> CarbonIntensity:
        """The value in effect now; answers from memory, never blocks on the network or raises."""
        with self._lock:
            self._mark_overdue()
            return self._history[-1][1]

    def wait_for_refresh(self, attempts: int = 1, timeout_s: float = 10.0) -> bool:
        """Block until ``attempts`` live lookups have finished; False on timeout (for tests
        and tools, never for the training loop)."""
        with self._attempted:
            return self._attempted.wait_for(lambda: self.attempts >= attempts, timeout_s)

    def mean_between(self, start_s: float, end_s: float) -> CarbonIntensity:
        """Time-weighted intensity over ``[start_s, end_s]`` (seconds of ``clock``, by default
        ``time.time()``).

        Each value counts from the moment it was adopted until the next one; a window
        inside one value's span returns that value itself.
        """
        for name, seconds in (("start_s", start_s), ("end_s", end_s)):
            if not is_finite_number(seconds):
                raise ConfigurationError(f"{name}={seconds!r} is invalid: use time.time() seconds.")
        if end_s < start_s:
            raise ConfigurationError(f"end_s={end_s!r} is before start_s={start_s!r}.")
        with self._lock:
            self._mark_overdue()
            if len(self._history) == 1:  # one value all along (a fixed intensity, say)
                return self._history[0][1]
            history = list(self._history)
        weights: list[tuple[float, CarbonIntensity]] = []
        for index, (adopted_at, value) in enumerate(history):
            begin = start_s if index == 0 else max(adopted_at, start_s)
            until = history[index + 1][0] if index + 1 < len(history) else math.inf
            span = min(until, end_s) - begin
            if span > 0:
                weights.append((span, value))
        if not weights:  # an empty window: the value in effect at that instant
            in_effect = [value for adopted_at, value in history if adopted_at <= start_s]
            return in_effect[-1] if in_effect else history[0][1]
        if all(value == weights[0][1] for _, value in weights):
            return weights[0][1]
        return _weighted_mean(weights)

    def close(self) -> None:
        """Stop background refresh; returns within ``close_timeout_s``. Nothing is published
        after it returns: a lookup still running is left to its daemon thread and discarded."""
        waited_until = time.monotonic() + self.close_timeout_s
        self._stop.set()
        thread, self._thread = self._thread, None
        if self._publishing.acquire(timeout=self.close_timeout_s):  # let a publication finish
            self._publishing.release()
        if thread is None:
            return
        thread.join(max(waited_until - time.monotonic(), 0.0))
        if thread.is_alive():
            log.info("carbon: the refresh thread is still in a lookup of %s; it is a daemon, "
                     "ends with the request's deadline and publishes nothing.",
                     self.provider.name)

    def __enter__(self) -> "CarbonMonitor":
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CarbonMonitor(provider={self.provider!r}, current={self.current().g_per_kwh:g})"


def _weighted_mean(weights: list[tuple[float, CarbonIntensity]]) -> CarbonIntensity:
    """One value for several: time-weighted g/kWh, the latest zone, every source named."""
    total = sum(span for span, _ in weights)
    g_per_kwh = sum(span * value.g_per_kwh for span, value in weights) / total
    shares: dict[str, float] = {}
    for span, value in weights:
        shares[value.source] = shares.get(value.source, 0.0) + span / total
    latest = weights[-1][1]
    return CarbonIntensity(
        g_per_kwh=g_per_kwh,
        zone=latest.zone,
        source="time-weighted mean of " + "; ".join(
            f"{source} ({share:.0%})" for source, share in shares.items()),
        is_estimated=any(value.is_estimated for _, value in weights),
        is_stale=any(value.is_stale for _, value in weights),
        timestamp=latest.timestamp,
        country=latest.country,
    )
