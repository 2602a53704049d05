"""A real browser engine for the end-to-end tests, installed from PyPI.

The tests drive Chromium as shipped inside Qt WebEngine (the ``PyQt6-WebEngine`` wheels, a dev
dependency): no system browser, no driver binary, nothing downloaded at run time.  Each
:class:`Browser` is its own process with its own off-the-record profile (so its own cookies),
driven over the Chrome DevTools Protocol on a loopback port.
"""

from tests.browser.cdp import Browser, BrowserError

__all__ = ["Browser", "BrowserError"]
