"""API keys: read from a parameter or the environment, and kept out of every output."""

from __future__ import annotations

import os

from nature_callback.exceptions import ConfigurationError

REDACTED = "***"


class Secret:
    """A credential that ``repr``/``str`` never show; :meth:`reveal` is for the HTTP boundary."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The credential itself: only for building an HTTP request."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret_from(value: str | None, env_var: str, what: str) -> Secret:
    """A :class:`Secret` from ``value`` or, when None, from ``env_var``; raise if neither is set.

    ``what`` names the parameter in the error message (the value itself never appears).
    """
    raw = value if value is not None else os.environ.get(env_var)
    if not raw:
        raise ConfigurationError(
            f"{what} is missing: pass {what}=... or set the environment variable {env_var}."
        )
    return Secret(raw)


def redact(text: str, secrets: tuple[Secret, ...]) -> str:
    """``text`` with every secret's value replaced by ``***``."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, REDACTED)
    return text
