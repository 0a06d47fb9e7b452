"""index.html -> headless Chromium: does the page load without console errors, and does it render something?

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: commands on file descriptor
3, replies and events on 4, NUL-separated JSON), which needs only the Python standard library: no WebSocket client,
no port. Errors are collected from ``Runtime.consoleAPICalled`` (``console.error``/``assert``),
``Runtime.exceptionThrown`` (uncaught exceptions) and ``Log.entryAdded`` at level error (failed resource loads,
security and rendering errors). The screenshot comes from ``Page.captureScreenshot``.

Chromium runs as the machine notes require (root, closed network): ``--headless --no-sandbox --disable-gpu
--disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync`` and a
fresh, temporary ``--user-data-dir``.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError

CHROMIUM_ENV = "MPA_BENCH_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)


class BrowserError(BenchError):
    """Chromium is missing, did not start, or did not answer in time."""


def find_chromium() -> str | None:
    """``$MPA_BENCH_CHROMIUM`` or the first Chromium/Chrome on PATH."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return override if shutil.which(override) else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


@dataclass
class PageCheck:
    """What Chromium saw.

    Attributes:
        errors: one line per console error, uncaught exception or error log entry.
        screenshot: PNG bytes of the viewport.
        blank: the screenshot is (nearly) one colour.
    """

    url: str
    errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    blank: bool = True
    title: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.blank


def is_blank(png: bytes, min_colours: int = 8, min_spread: float = 8.0) -> bool:
    """True for an image of (nearly) one colour: few distinct colours or a tiny spread of grey levels."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    colours = np.unique(pixels.reshape(-1, 3)[:: max(1, pixels.size // 3 // 200_000)], axis=0)
    return len(colours) < min_colours or float(pixels.mean(axis=2).std()) < min_spread


class _Pipe:
    """DevTools protocol client over Chromium's pipe."""

    def __init__(self, reader: int, writer: int, deadline: float):
        self.reader, self.writer, self.deadline = reader, writer, deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time over the DevTools pipe")
            chunk = os.read(self.reader, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the DevTools pipe (it exited)")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"DevTools {method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._receive())

    def drain(self, seconds: float) -> None:
        """Collects events for a while (late console messages after the load event)."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                return
            chunk = os.read(self.reader, 1 << 20)
            if not chunk:
                return
            self.buffer += chunk
            while b"\0" in self.buffer:
                message, _, self.buffer = self.buffer.partition(b"\0")
                self.events.append(json.loads(message))


def _error_lines(events: list[dict[str, Any]]) -> list[str]:
    lines = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            lines.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "")
            lines.append(f"uncaught exception: {description}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            lines.append(f"{entry.get('source', 'log')} error: {entry.get('text', '')} {entry.get('url', '')}".strip())
    return lines


def check_page(path: Path | str, width: int = 1280, height: int = 1600, timeout: float = 60.0,
               settle: float = 0.5) -> PageCheck:
    """Loads a local HTML file in headless Chromium and reports console errors and a screenshot.

    Raises:
        BrowserError: Chromium is not installed or does not answer within ``timeout`` seconds.
    """
    binary = find_chromium()
    if binary is None:
        raise BrowserError(f"no Chromium found (looked for {', '.join(CANDIDATES)} on PATH and ${CHROMIUM_ENV}); "
                           f"install Debian's chromium (`apt-get install chromium`)")
    url = Path(path).resolve().as_uri()
    result = PageCheck(url)
    profile = tempfile.mkdtemp(prefix="mpa-bench-chromium-")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    # The protocol expects the pipe on fds 3 (commands in) and 4 (replies out). bash moves our ends there just
    # before exec (no preexec_fn: unsafe in a process with threads, as torch's; no dash: single-digit fds only),
    # from copies above 9, so that the moves onto 3 and 4 cannot clobber one another.
    inbound = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
    outbound = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
    wire = f'exec "$0" "$@" 3<&{inbound} 4>&{outbound} {inbound}<&- {outbound}>&-'
    command = [shutil.which("bash") or "/bin/bash", "-c", wire, binary, *FLAGS, f"--user-data-dir={profile}",
               f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"]
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, pass_fds=(inbound, outbound))
    except OSError as error:
        shutil.rmtree(profile, ignore_errors=True)
        raise BrowserError(f"cannot start {binary}: {error}") from error
    finally:
        for descriptor in (to_browser_r, from_browser_w, inbound, outbound):
            os.close(descriptor)
    pipe = _Pipe(from_browser_r, to_browser_w, time.monotonic() + timeout)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        navigation = pipe.call("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            result.errors.append(f"navigation error: {navigation['errorText']}")
        pipe.wait_for("Page.loadEventFired")
        pipe.drain(settle)
        result.title = pipe.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                                 session=session).get("result", {}).get("value", "")
        shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
        result.screenshot = base64.b64decode(shot["data"])
        pipe.drain(0.1)
        result.errors += _error_lines(pipe.events)
        result.blank = is_blank(result.screenshot)
        try:
            pipe.call("Browser.close")
        except BrowserError:
            pass
    finally:
        os.close(from_browser_r)
        os.close(to_browser_w)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return result
