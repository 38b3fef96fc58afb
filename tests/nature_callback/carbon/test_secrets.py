"""Credentials never appear in logs, warnings, reprs, error messages or files written."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest

from nature_callback.carbon import CarbonMonitor, ElectricityMaps, IntensityCache, WattTime
from nature_callback.carbon.credentials import Secret, secret_from
from nature_callback.exceptions import CarbonError, ConfigurationError
from tests.nature_callback.carbon.conftest import FAST, TOKEN, WT_PASSWORD, WT_USER
from tests.nature_callback.carbon.fake_services import FakeService, Reply, em_latest, wt_points

BEARER = "wt-bearer-SECRET-d41d8"
SECRETS = (TOKEN, WT_USER, WT_PASSWORD, BEARER)


def run_and_collect(service: FakeService, cache_dir: Path,
                    caplog: pytest.LogCaptureFixture) -> str:
    """Drive both keyed providers through success and failures whose bodies echo their keys;
    return everything the project printed, logged, warned or wrote."""
    echo = f"{TOKEN} auth-token: {TOKEN}"
    service.route("/v3/carbon-intensity/latest", Reply(em_latest(300)),
                  Reply({"error": f"invalid token {TOKEN}"}, status=401),
                  *[Reply(f"<html>{echo}</html>", status=500)] * (FAST.max_retries + 1),
                  Reply(f'{{"zone": "{TOKEN}", "carbonIntensity": "{TOKEN}"}}'),
                  Reply(b"x" * 5000 + echo.encode()))
    service.route("/login", Reply({"token": BEARER}),
                  Reply({"error": f"bad user {WT_USER} / {WT_PASSWORD}"}, status=403))
    service.route("/v3/forecast", Reply(wt_points(900.0)),
                  Reply({"error": f"expired {BEARER}"}, status=401))
    caplog.set_level(logging.DEBUG)
    cache = IntensityCache(cache_dir)
    outputs: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        electricity = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
        watt = WattTime(WT_USER, WT_PASSWORD, "CAISO_NORTH", country="US",
                        base_url=service.url, http=FAST)
        for provider in (electricity, watt):
            monitor = CarbonMonitor(provider, cache=cache)
            for _ in range(5):
                value = monitor.refresh_now()
                outputs += [repr(value), json.dumps(value.to_dict()), str(monitor.last_error)]
            outputs += [repr(provider), str(provider), json.dumps(provider.describe()),
                        repr(monitor), repr(provider.__dict__)]
            try:
                provider.intensity()
            except CarbonError as err:
                outputs.append(str(err))
                outputs.append(repr(err.__cause__))
    outputs += [str(w.message) for w in caught]
    outputs.append(caplog.text)
    outputs += [path.read_text(errors="replace") for path in cache_dir.rglob("*")
                if path.is_file()]
    return "\n".join(outputs)


def test_keys_are_used_but_never_written(service: FakeService, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    everything = run_and_collect(service, tmp_path / "cache", caplog)
    # the keys were really sent and the failures really happened ...
    assert service.requests_to("/v3/carbon-intensity/latest")[0].headers["auth-token"] == TOKEN
    assert service.requests_to("/v3/forecast")[0].headers["Authorization"] == f"Bearer {BEARER}"
    assert "HTTP 401" in everything and "HTTP 500" in everything and "***" in everything
    assert (tmp_path / "cache" / "carbon_intensity.json").exists()
    # ... and none of them appears in anything the project produced
    for secret in SECRETS:
        assert secret not in everything


def test_secret_repr_and_missing_key_message() -> None:
    secret = Secret(TOKEN)
    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and TOKEN not in f"{secret}"
    assert secret.reveal() == TOKEN
    with pytest.raises(ConfigurationError) as error:
        secret_from(None, "ELECTRICITYMAPS_API_KEY", "token")
    assert "ELECTRICITYMAPS_API_KEY" in str(error.value)


PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_keys_never_reach_a_proxy_over_plain_http(variable: str, service: FakeService,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    proxy = FakeService()  # a real HTTP server on 127.0.0.1 recording the headers it receives
    try:
        monkeypatch.setenv(variable, proxy.url)
        for fake, value in ((service, 300.0), (proxy, 999.0)):
            fake.route("/v3/carbon-intensity/latest", Reply(em_latest(value)))
            fake.route("/login", Reply({"token": BEARER}))
            fake.route("/v3/forecast", Reply(wt_points(value / 0.45359237)))
        base_url = service.url.replace("127.0.0.1", "localhost")  # as a local mirror is named
        electricity = ElectricityMaps(token=TOKEN, zone="DE", base_url=base_url, http=FAST)
        watt = WattTime(WT_USER, WT_PASSWORD, "CAISO_NORTH", country="US", base_url=base_url,
                        http=FAST)
        assert electricity.intensity().g_per_kwh == 300.0
        assert watt.intensity().g_per_kwh == pytest.approx(300.0)
    finally:
        proxy.close()
    assert proxy.requests == []  # so no key either, in any header
    assert service.requests_to("/v3/carbon-intensity/latest")[0].headers["auth-token"] == TOKEN
    assert "Authorization" in service.requests_to("/login")[0].headers
