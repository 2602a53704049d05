"""Every secret-looking value this repository has ever shipped, in one place.

The demo project's settings, docker-compose.yml, ``.env.example`` and the documentation are
public: a ``SECRET_KEY``, gateway secret or AWS secret copied from them protects nothing. The
system check ``wsgateway.E010`` (:mod:`wsgateway.checks_deploy`) refuses a configuration that uses
one of them, and ``tests/security/test_shipped_secrets.py`` fails when one of those files gains
a value that is not listed here.

Dependency-free on purpose: ``worker/settings.py`` imports the demo values from here while
Django's settings are still being built.
"""

from __future__ import annotations

__all__ = [
    "DEMO_AWS_ACCESS_KEY_ID",
    "DEMO_AWS_SECRET_ACCESS_KEY",
    "DEMO_GATEWAY_SECRET",
    "DEMO_SECRET_KEY",
    "SHIPPED_SECRETS",
    "is_shipped",
]

#: The demo's Django SECRET_KEY (only ever used with ``WSGATEWAY_DEMO=1``).
DEMO_SECRET_KEY = "wsgateway-demo-insecure-secret-key-change-me"  # noqa: S105 (public by design)
#: The demo's gateway secret (only ever used with ``WSGATEWAY_DEMO=1``); 32+ characters of the
#: alphabet a static mapping value allows, like any gateway secret.
DEMO_GATEWAY_SECRET = "wsgateway-demo-public-gateway-secret-never-use"  # noqa: S105 (public by design)
#: Credentials boto3 signs with against the local emulator in demo mode.
DEMO_AWS_ACCESS_KEY_ID = "wsgateway-local"
DEMO_AWS_SECRET_ACCESS_KEY = "wsgateway-local-secret"  # noqa: S105 (public by design)

#: Values that must never protect a real deployment: the demo's, and the defaults and
#: placeholders earlier versions of docker-compose.yml and the README shipped (a deployment
#: copied from an old checkout may still carry them).
SHIPPED_SECRETS: frozenset[str] = frozenset(
    {
        DEMO_SECRET_KEY,
        DEMO_GATEWAY_SECRET,
        DEMO_AWS_SECRET_ACCESS_KEY,
        "demo-gateway-secret",
        "compose-demo-secret-key-change-me-0123456789abcdef",
        "compose-gateway-secret-change-me",
        "<long random string>",
        "change-me",
        "user:password",
    }
)


def is_shipped(value: object) -> bool:
    """Whether ``value`` is one of :data:`SHIPPED_SECRETS` (surrounding whitespace ignored)."""
    return isinstance(value, str) and value.strip() in SHIPPED_SECRETS
