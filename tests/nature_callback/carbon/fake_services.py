"""A real HTTP server on 127.0.0.1 that plays the carbon services, faults included.

Each path has a queue of :class:`Reply` objects; the last one repeats. Every request is
recorded (path, query, headers) so tests can check what was sent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted response."""

    body: Any = b""
    """bytes or str as is; anything else is sent as JSON."""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait before answering (interrupted when the server stops)."""
    send_bytes: int | None = None
    """Declare the full Content-Length but send only this many bytes, then close."""
    declare_length: bool = True
    """False: no Content-Length (the body ends when the connection closes)."""
    drip_s: float | None = None
    """Send the body one byte every ``drip_s`` seconds (a server too slow for any deadline but
    never silent for a read timeout). Pair it with ``send_bytes`` so the drip ends by itself."""

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Request:
    """What the client sent."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeService:
    """Scripted HTTP service; use as ``service.route(path, Reply(...), ...)``."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def _next(self, path: str) -> Reply:
        with self._lock:
            queue = self.routes.get(path)
            if not queue:
                return Reply({"error": f"no route {path}"}, status=404)
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                parts = urlsplit(self.path)
                with service._lock:
                    service.requests.append(
                        Request(parts.path, parse_qs(parts.query), dict(self.headers.items())))
                reply = service._next(parts.path)
                if reply.delay_s and service.stopping.wait(reply.delay_s):
                    return
                body = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.declare_length:
                        self.send_header("Content-Length", str(len(body)))
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    sent = body if reply.send_bytes is None else body[:reply.send_bytes]
                    if reply.drip_s is None:
                        self.wfile.write(sent)
                    else:
                        self._drip(sent, reply.drip_s)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _drip(self, body: bytes, interval_s: float) -> None:
                for index in range(len(body)):
                    self.wfile.write(body[index:index + 1])
                    self.wfile.flush()
                    if service.stopping.wait(interval_s):
                        return

        return Handler


def em_latest(value: Any = 466, zone: str = "DE", **extra: Any) -> dict[str, Any]:
    """An Electricity Maps v3 ``carbon-intensity/latest`` body (FIELD.md)."""
    return {"zone": zone, "carbonIntensity": value, "datetime": "2026-05-03T10:00:00.000Z",
            "updatedAt": "2026-05-03T10:05:00.000Z", "emissionFactorType": "lifecycle",
            "isEstimated": True, "estimationMethod": "TIME_SLICER_AVERAGE", **extra}


def uk_national(actual: Any = 263, forecast: Any = 266) -> dict[str, Any]:
    """A GB ``/intensity`` body."""
    return {"data": [{"from": "2026-05-03T10:00Z", "to": "2026-05-03T10:30Z",
                      "intensity": {"forecast": forecast, "actual": actual,
                                    "index": "moderate"}}]}


def uk_regional(forecast: Any = 126, postcode: str = "RG10") -> dict[str, Any]:
    """A GB ``/regional/postcode/RG10`` body."""
    return {"data": [{"regionid": 12, "dnoregion": "SSE South", "shortname": "South England",
                      "postcode": postcode,
                      "data": [{"from": "2026-05-03T10:00Z", "to": "2026-05-03T10:30Z",
                                "intensity": {"forecast": forecast, "index": "moderate"},
                                "generationmix": [{"fuel": "gas", "perc": 30.1}]}]}]}


def wt_points(value: Any, units: str = "lbs_co2_per_mwh", region: str = "CAISO_NORTH",
              signal_type: str = "co2_moer") -> dict[str, Any]:
    """A WattTime v3 ``/v3/forecast`` or ``/v3/signal-index`` body."""
    return {"data": [{"point_time": "2026-05-03T10:00:00+00:00", "value": value,
                      "version": "2026-03-01"}],
            "meta": {"region": region, "signal_type": signal_type, "units": units,
                     "generated_at": "2026-05-03T10:00:00+00:00"}}
