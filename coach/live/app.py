"""Process glue for `coach live` and `coach replay`: signals, the overlay window, the token.

Stopping must never abort: CTranslate2 and onnxruntime run C++ threads, and
a process that exits while one is still decoding dies with `terminate
called without an active exception` (SIGABRT). So a signal only sets a flag
(`Shutdown`); the command then ends and saves the current call, joins the
one thread that runs Whisper (`coach.live.calls.Desk`), stops the server
and returns 130 (SIGINT) or 143 (SIGTERM). Before that thread exists
(devices, model load) the signal interrupts the main thread like Ctrl-C
always did. A second signal while stopping exits at once without running
C++ destructors (`os._exit`), still without an abort.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import webbrowser
from typing import Any

from coach.live.hub import LOOPBACK_NAMES

log = logging.getLogger(__name__)


class Interrupted(BaseException):
    """SIGINT or SIGTERM before the calls started (model loading...): unwinds like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Shutdown:
    """SIGINT/SIGTERM handling for a command that must stop cleanly (see the module docstring)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.raising = True  # raise Interrupted in the main thread (until the worker runs)

    def install(self) -> Shutdown:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)
        return self

    @property
    def code(self) -> int:
        """The exit status a shell gives a process ended by this signal (130, 143)."""
        return 128 + (self.signum or signal.SIGINT)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            os.write(2, b"coach: stopping now, without saving\n")
            os._exit(128 + signum)
        self.signum = signum
        self.event.set()
        if self.raising:
            raise Interrupted(signum)


def token_for(host: str, token: str | None) -> str | None:
    """The token the server requires: the one given, or a fresh one when bound beyond loopback
    (anyone on the network could otherwise read the call)."""
    if token:
        return token
    if host in LOOPBACK_NAMES:
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        pass
    return secrets.token_urlsafe(16)


def open_overlay(url: str, app_window: bool = True, settle_s: float = 2.0) -> str | None:
    """Open the overlay: a small app window when Chromium/Chrome is installed, else the default
    browser. Returns None when a window was opened, else why not (said to the user)."""
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        return "no graphical display (DISPLAY and WAYLAND_DISPLAY are not set)"
    failures = []
    if app_window:
        for exe in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
            path = shutil.which(exe)
            if path is None:
                continue
            try:
                proc = subprocess.Popen([path, f"--app={url}", "--window-size=380,540"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
            except OSError as exc:
                failures.append(f"{exe}: {exc}")
                continue
            try:  # a running browser takes the window over and exits 0; a broken one exits non-zero
                code = proc.wait(settle_s)
            except subprocess.TimeoutExpired:
                return None
            if code == 0:
                return None
            failures.append(f"{exe} exited with status {code}")
    try:
        if webbrowser.open(url):
            return None
    except webbrowser.Error as exc:
        failures.append(str(exc))
    return "; ".join(failures) or "no web browser found"


def wait_for_client(hub: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.clients:
            return True
        time.sleep(0.05)
    return False
