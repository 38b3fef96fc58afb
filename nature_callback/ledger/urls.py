"""PostgreSQL URLs for the team ledger, and keeping their passwords out of every message.

A ``postgresql://user:password@host:port/dbname`` URL may carry a password (in the user info
or as a ``password=`` query parameter). ``PostgresURL`` holds such a URL: its ``str`` and
``repr`` are redacted, only ``secret_url()`` (what is handed to libpq) gives the password, and
``scrub`` removes the password from any text (a driver's error message). Better still, leave
the password out of the URL: libpq reads ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from urllib.parse import parse_qsl, unquote, urlencode

SCHEMES = ("postgresql", "postgres")
"""URL schemes libpq accepts."""

REDACTED = "***"

_URL = re.compile(r"(?P<scheme>postgres(?:ql)?)://(?P<rest>[^\s'\"]*)", re.IGNORECASE)
_COLLAPSED = re.compile(r"^(postgres(?:ql)?):/(?!/)", re.IGNORECASE)
"""A URL that went through ``pathlib.Path``, which folds ``//`` into ``/``."""


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` (a str, a Path or a ``PostgresURL``) names a PostgreSQL ledger."""
    if isinstance(value, PostgresURL):
        return True
    text = str(value) if isinstance(value, (str, PurePath)) else ""
    return bool(_URL.match(text) or _COLLAPSED.match(text))


def _split(rest: str) -> tuple[str, str | None, str, str]:
    """``user[:password]@hosts/db?query`` → (user, password or None, the part after ``@``
    up to the query, the query)."""
    location, _, query = rest.partition("?")
    authority_end = location.find("/")
    authority = location if authority_end < 0 else location[:authority_end]
    if "@" not in authority:
        return "", None, location, query
    userinfo, _, hosts = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    path = location[len(authority):]
    return user, password if colon else None, hosts + path, query


def _redacted(scheme: str, rest: str) -> str:
    """One URL (its scheme and what follows ``://``) with ``***`` for its password."""
    user, password, location, query = _split(rest)
    userinfo = (f"{user}:{REDACTED}@" if password is not None else f"{user}@" if user else "")
    if query:
        pairs = [(key, REDACTED if key == "password" else value)
                 for key, value in parse_qsl(query, keep_blank_values=True)]
        location += "?" + urlencode(pairs, safe="*")
    return f"{scheme}://{userinfo}{location}"


def redact_url(text: str) -> str:
    """``text`` with the password of every PostgreSQL URL in it replaced by ``***``."""
    return _URL.sub(lambda match: _redacted(match["scheme"], match["rest"]), text)


class PostgresURL:
    """A ``postgresql://`` URL whose password never shows in ``str``, ``repr`` or f-strings."""

    __slots__ = ("_url",)

    def __init__(self, url: str | PurePath) -> None:
        text = str(url).strip()
        if isinstance(url, PurePath):
            text = _COLLAPSED.sub(r"\1://", text)  # best effort: Path("a://h/d") is "a:/h/d"
        scheme, separator, _ = text.partition("://")
        if not separator or scheme.lower() not in SCHEMES:
            raise ValueError(f"not a PostgreSQL URL: {redact_url(text)!r}")
        self._url = text

    def secret_url(self) -> str:
        """The URL as given, password included: for the driver only."""
        return self._url

    @property
    def redacted(self) -> str:
        """The URL with ``***`` for its password."""
        scheme, _, rest = self._url.partition("://")
        return _redacted(scheme, rest)

    def passwords(self) -> list[str]:
        """The password(s) the URL carries, raw and percent-decoded."""
        user_password = _split(self._url.partition("://")[2])[1]
        query = self._url.partition("?")[2]
        found = [value for key, value in parse_qsl(query) if key == "password"]
        if user_password:
            found += [user_password, unquote(user_password)]
        return [password for password in found if password]

    def scrub(self, text: str) -> str:
        """``text`` without this URL's password (nor any other URL's)."""
        text = redact_url(text)
        for password in sorted(self.passwords(), key=len, reverse=True):
            text = text.replace(password, REDACTED)
        return text

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"PostgresURL({self.redacted!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PostgresURL) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)
