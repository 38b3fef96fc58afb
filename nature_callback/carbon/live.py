"""What the three online providers share: endpoint, HTTP client, credentials, cache key."""

from __future__ import annotations

import threading
from typing import Any

from nature_callback.carbon.base import CarbonProvider
from nature_callback.carbon.credentials import Secret
from nature_callback.carbon.http import HttpConfig, JsonClient, check_base_url


class LiveProvider(CarbonProvider):
    """A provider backed by a web service; ``intensity()`` raises CarbonError on any failure."""

    is_live = True

    def __init__(self, base_url: str, http: HttpConfig | None,
                 secrets: tuple[Secret, ...] = ()) -> None:
        self.base_url = check_base_url(base_url, sends_secret=bool(secrets))
        self.http = http or HttpConfig()
        self._client = JsonClient(self.http, service=self.name, secrets=secrets)

    @property
    def location(self) -> str:
        """The zone, region or postcode asked for (part of the cache key and the repr)."""
        return self.country or "WORLD"

    @property
    def cache_key(self) -> str:
        """Service, endpoint and location: never a credential."""
        return f"{self.name}|{self.base_url}|{self.location}"

    def use_stop_event(self, stop: threading.Event) -> None:
        """Let ``stop`` interrupt retry back-offs (the monitor passes its own)."""
        self._client.stop = stop

    def get(self, path: str, **kwargs: Any) -> Any:
        """Decoded JSON of ``GET base_url + path`` (see :meth:`JsonClient.get_json`)."""
        return self._client.get_json(self.base_url + path, **kwargs)

    def describe(self) -> dict[str, Any]:
        """Settings for the run's hyperparameters (no credential)."""
        return {"provider": self.name, "location": self.location, "country": self.country,
                "base_url": self.base_url}

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(location={self.location!r}, base_url={self.base_url!r})"
