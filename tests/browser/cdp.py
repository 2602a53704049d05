"""Drive a :mod:`tests.browser.host` window over the Chrome DevTools Protocol (CDP).

Only the handful of commands the end-to-end tests need: navigate, evaluate JavaScript, wait for a
condition, take a screenshot, collect console output.  Interactions (typing, clicking) are done in
JavaScript on the page, which is also how the page's own code sees them.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
#: Starting Qt WebEngine on a loaded 2-core CI machine.
START_TIMEOUT = 60.0


class BrowserError(AssertionError):
    """The page threw, a command failed, or a condition never became true."""


def _console_value(arg: dict[str, Any]) -> str:
    return str(arg.get("value", arg.get("description", "")))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Browser:
    """A headless Chromium (Qt WebEngine) window in its own process, with its own cookies."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self.console: list[dict[str, Any]] = []
        self._port = _free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.browser.host", str(self._port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._ids = itertools.count(1)
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._stack = contextlib.ExitStack()
        try:
            self._ws = self._attach()
        except BaseException:
            self.close()
            raise
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.command("Runtime.enable")
        self.command("Page.enable")

    # -- plumbing --------------------------------------------------------------------------------

    def _attach(self) -> ClientConnection:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            raise BrowserError(f"the browser host did not start (said {line!r})")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self._port}/json/list", timeout=5) as answer:
                    pages = [t for t in json.load(answer) if t.get("type") == "page"]
                if pages:
                    # Entered as a context manager (websockets 17 wants that); left in close().
                    return self._stack.enter_context(
                        connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
                    )
            except OSError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise BrowserError("the browser's DevTools endpoint never came up")
            time.sleep(0.1)

    def _read(self) -> None:
        try:
            while True:
                message = json.loads(self._ws.recv())
                with self._changed:
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self._events.append(message)
                        if message.get("method") == "Runtime.consoleAPICalled":
                            params = message["params"]
                            self.console.append(
                                {
                                    "level": params.get("type"),
                                    "text": " ".join(
                                        str(a.get("value", a.get("description", "")))
                                        for a in params.get("args", [])
                                    ),
                                }
                            )
                    self._changed.notify_all()
        except Exception:  # the connection closed: wake every waiter
            with self._changed:
                self._changed.notify_all()

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its result (raises on a protocol error)."""
        number = next(self._ids)
        self._ws.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        with self._changed:
            while number not in self._answers:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    raise BrowserError(f"no answer to {method}")
                self._changed.wait(remaining)
            answer = self._answers.pop(number)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    # -- what tests use --------------------------------------------------------------------------

    def get(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        with self._changed:
            seen = len(self._events)
        self.command("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired", seen)

    def _wait_event(self, method: str, after: int) -> None:
        deadline = time.monotonic() + self.timeout
        with self._changed:
            while not any(e.get("method") == method for e in self._events[after:]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrowserError(f"no {method} within {self.timeout} s")
                self._changed.wait(remaining)

    def js(self, expression: str) -> Any:
        """Evaluate ``expression`` on the page (promises awaited) and return its JSON value."""
        result = self.command(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript error: {text}\nin: {expression}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, message: str = "", timeout: float | None = None) -> Any:
        """Poll ``expression`` until it is truthy; its value.  A page that is navigating (its
        context destroyed) counts as not yet."""
        deadline = time.monotonic() + (timeout or self.timeout)
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.js(expression)
            except BrowserError as err:
                last = err
            else:
                if last:
                    return last
            time.sleep(0.1)
        raise BrowserError(f"{message or expression} never became true (last: {last!r})")

    def type_into(self, selector: str, text: str) -> None:
        """Set an input's value and fire ``input`` as typing would."""
        self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" e.focus(); e.value = {json.dumps(text)};"
            " e.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )

    def click(self, selector: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).click()")

    def text(self, selector: str) -> str:
        return str(self.js(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''")).strip()

    def texts(self, selector: str) -> list[str]:
        return list(
            self.js(
                f"Array.from(document.querySelectorAll({json.dumps(selector)}), e => e.textContent.trim())"
            )
        )

    def screenshot(self, path: Path) -> None:
        data = self.command("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Close the window and wait for its process to end."""
        self._stack.close()
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
