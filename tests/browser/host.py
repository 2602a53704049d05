"""One headless browser window: Qt WebEngine (Chromium) with the DevTools protocol on a loopback port.

Run as ``python -m tests.browser.host PORT``; prints ``ready`` once the page exists and runs until
its standard input closes or it gets SIGTERM.  Started by :class:`tests.browser.cdp.Browser`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def main(port: int) -> int:
    # Set before Qt loads: headless rendering, no sandbox (tests run as root in CI), no GPU, and
    # the DevTools endpoint on loopback only.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    os.environ["QTWEBENGINE_REMOTE_DEBUGGING"] = f"127.0.0.1:{port}"
    os.environ.setdefault(
        "QTWEBENGINE_CHROMIUM_FLAGS",
        "--disable-gpu --no-sandbox --disable-background-networking --disable-component-update",
    )
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWebEngineCore import QWebEngineProfile
    from PyQt6.QtWebEngineWidgets import QWebEngineView
    from PyQt6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    profile = QWebEngineProfile()  # no storage name: off-the-record, cookies live in memory only
    view = QWebEngineView(profile)
    view.resize(1100, 800)
    view.show()
    view.setUrl(view.url().fromUserInput("about:blank"))

    # Quit when the parent goes away (stdin closes) or asks politely (SIGTERM).
    def watch_stdin() -> None:
        sys.stdin.read()
        QTimer.singleShot(0, app.quit)

    threading.Thread(target=watch_stdin, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: QTimer.singleShot(0, app.quit))
    # Python signal handlers run only when the interpreter gets control: wake it regularly.
    ticker = QTimer()
    ticker.start(200)
    ticker.timeout.connect(lambda: None)
    print("ready", flush=True)
    code = app.exec()
    view.deleteLater()
    return code


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
