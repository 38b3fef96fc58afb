"""The one place where carbon providers talk HTTP: timeouts, retries, size cap, redaction.

Every request has a (connect, read) timeout and one overall deadline; 429 and 5xx are
retried a bounded number of times with exponential back-off (``Retry-After`` honoured up to
a cap); bodies are streamed and cut off past a size cap or the deadline; every failure,
an undecodable body included, becomes a :class:`CarbonError` whose message never contains a
credential. Timeouts and dropped connections are not retried: the monitor tries again at its
next refresh, so a dead service costs one timeout, not several. Plain-http requests ignore
the environment's proxies (and ``.netrc``), so a credential never crosses a proxy in clear.

``requests`` is imported when the first client is made, not with this module: an offline
run (a fixed intensity, the embedded table) never loads it.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nature_callback.carbon.base import check_seconds
from nature_callback.carbon.credentials import Secret, redact
from nature_callback.carbon.payload import parse_json
from nature_callback.exceptions import CarbonError, ConfigurationError

if TYPE_CHECKING:
    import requests

USER_AGENT = "nature-callback (+https://github.com/nature-callback/nature-callback)"
DEFAULT_DEADLINE_S = 10.0
"""Longest one request may take, connection to last byte: above the connect and first-byte
timeouts together (3.05 + 5 s) so a slow but steady answer still arrives, while a server
trickling bytes (each within the read timeout) is cut off. The services answer in well
under a second; the monitor refreshes every 15 minutes."""
READ_CHUNK_BYTES = 1
"""Bytes asked for per read of the body. A read returns only once its chunk is full, so with
larger chunks a server sending one byte per read timeout would hold each read for chunk x
read timeout; one byte per read lets the deadline be checked after every arrival. Costs
about 7 us per byte: a few ms for the few-kB answers of the services."""


@dataclass(frozen=True)
class HttpConfig:
    """Timeouts, retries and limits of carbon-intensity requests."""

    connect_timeout_s: float = 3.05
    """Seconds to wait for the TCP/TLS connection (requests' recommended just over 3 s)."""
    read_timeout_s: float = 5.0
    """Seconds to wait between bytes of the response."""
    deadline_s: float = DEFAULT_DEADLINE_S
    """Longest one request may take in all, checked as the body arrives (so a request ends
    within ``deadline_s`` + ``read_timeout_s``)."""
    max_retries: int = 2
    """Retries after the first attempt, only on 429 and 5xx."""
    backoff_base_s: float = 0.5
    """First back-off; doubled after each retry."""
    backoff_cap_s: float = 8.0
    """Longest back-off between two attempts (without Retry-After)."""
    retry_after_cap_s: float = 30.0
    """Longest wait granted to a server's ``Retry-After``."""
    max_body_bytes: int = 1_000_000
    """Responses larger than this are rejected (the services answer in a few kB)."""

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "read_timeout_s", "deadline_s"):
            check_seconds(name, getattr(self, name))
        for name in ("backoff_base_s", "backoff_cap_s", "retry_after_cap_s"):
            check_seconds(name, getattr(self, name), allow_zero=True)
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) \
                or self.max_retries < 0:
            raise ConfigurationError(
                f"max_retries={self.max_retries!r} is invalid: it must be an integer >= 0.")
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) \
                or self.max_body_bytes < 1:
            raise ConfigurationError(
                f"max_body_bytes={self.max_body_bytes!r} is invalid: it must be an integer >= 1.")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


class HttpStatusError(CarbonError):
    """The service answered with an error status (the message never holds a credential)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def check_base_url(base_url: str, *, sends_secret: bool) -> str:
    """``base_url`` without its trailing slash, if it is http(s) and safe for credentials.

    Plain http is accepted for loopback mirrors (tests, local proxies); sending a credential
    over plain http to any other host is refused.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url={base_url!r} is invalid: it must be an http(s) URL such as "
            "'https://api.example.org'.")
    if parts.scheme == "http" and sends_secret and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"base_url={base_url!r} would send the API credentials unencrypted: use https "
            "(plain http is only accepted for localhost mirrors).")
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after_s(header: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent/invalid."""
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # only for the rare HTTP-date form

    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_detail(body: bytes) -> str:
    """A short description of an error body: its ``error``/``message`` field or its start."""
    try:
        payload = parse_json(body, "error body")
    except CarbonError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(payload, dict):
        for key in ("error", "message", "detail"):
            if key in payload:
                return str(payload[key])[:200]
    return str(payload)[:200]


def _new_session(*, trust_env: bool) -> requests.Session:
    """A ``requests`` session with this project's User-Agent (imports ``requests``);
    ``trust_env=False`` ignores proxy variables, ``.netrc`` and CA-bundle variables."""
    import requests

    session = requests.Session()
    session.trust_env = trust_env
    session.headers["User-Agent"] = USER_AGENT
    return session


class JsonClient:
    """GET JSON from one service with the limits of an :class:`HttpConfig`.

    ``secrets`` are redacted from every message; ``stop`` (an Event) interrupts back-off
    waits so a monitor can shut down promptly.
    """

    def __init__(self, config: HttpConfig | None = None, *, service: str,
                 secrets: tuple[Secret, ...] = (), stop: threading.Event | None = None) -> None:
        self.config = config or HttpConfig()
        self.service = service
        self.secrets = secrets
        self.stop = stop or threading.Event()
        self._session = _new_session(trust_env=True)
        self._direct_session: requests.Session | None = None

    def _session_for(self, url: str) -> requests.Session:
        """The session for ``url``: plain-http requests go direct, never through a proxy of the
        environment (``HTTP_PROXY``, ``ALL_PROXY``), which would see their headers, the
        credentials included, in clear text. https requests may use one: it sees only the
        encrypted tunnel."""
        if urlsplit(url).scheme != "http":
            return self._session
        if self._direct_session is None:
            self._direct_session = _new_session(trust_env=False)
        return self._direct_session

    def _fail(self, message: str, status: int | None = None) -> CarbonError:
        text = redact(f"{self.service}: {message}", self.secrets)
        return HttpStatusError(text, status) if status is not None else CarbonError(text)

    def get_json(self, url: str, *, params: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None,
                 auth: tuple[str, str] | None = None) -> Any:
        """The decoded JSON body of ``GET url``; CarbonError (HttpStatusError for a status)."""
        config = self.config
        backoff_s = config.backoff_base_s
        for attempt in range(config.max_retries + 1):
            status, body, retry_after = self._get(url, params, headers, auth)
            if 200 <= status < 300:
                try:
                    return parse_json(body, f"the response from {url}")
                except CarbonError as err:
                    raise self._fail(str(err)) from None
            retryable = status == 429 or status >= 500
            if not retryable or attempt == config.max_retries:
                raise self._fail(f"HTTP {status} from {url}: {_error_detail(body)}", status)
            wait_s = (min(retry_after, config.retry_after_cap_s) if retry_after is not None
                      else min(backoff_s, config.backoff_cap_s))
            backoff_s *= 2
            if self.stop.wait(wait_s):
                raise self._fail(f"stopped while waiting to retry {url}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, url: str, params: dict[str, Any] | None, headers: dict[str, str] | None,
             auth: tuple[str, str] | None) -> tuple[int, bytes, float | None]:
        import requests  # already imported by _new_session

        config = self.config
        deadline = time.monotonic() + config.deadline_s
        try:
            with self._session_for(url).get(
                    url, params=params, headers=headers, auth=auth, stream=True,
                    timeout=(config.connect_timeout_s, config.read_timeout_s),
                    allow_redirects=False) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > config.max_body_bytes:
                    raise self._fail(f"response of {declared} bytes from {url} exceeds "
                                     f"max_body_bytes={config.max_body_bytes}")
                body = bytearray()
                for chunk in response.iter_content(chunk_size=READ_CHUNK_BYTES):
                    body += chunk
                    if len(body) > config.max_body_bytes:
                        raise self._fail(f"response from {url} exceeds "
                                         f"max_body_bytes={config.max_body_bytes}")
                    if time.monotonic() > deadline:
                        raise self._fail(
                            f"no complete response from {url} within deadline_s="
                            f"{config.deadline_s:g} s (the server sends too slowly; raise "
                            "HttpConfig(deadline_s=...) if it is just a slow mirror)")
                return (response.status_code, bytes(body),
                        _retry_after_s(response.headers.get("Retry-After")))
        except requests.Timeout as err:
            raise self._fail(f"timed out (connect {config.connect_timeout_s} s, read "
                             f"{config.read_timeout_s} s) on {url}") from err
        except requests.RequestException as err:
            raise self._fail(f"connection failed on {url} ({type(err).__name__})") from err

    def close(self) -> None:
        """Release the connection pools."""
        self._session.close()
        if self._direct_session is not None:
            self._direct_session.close()
