"""The middleware chain of the test project (tests/settings.py), which the reference side of the
inbound benchmark uses too (benchmarks/inbound_reference_settings.py): both sides of that
comparison run the same chain. Plain data only, importable without wsgateway installed."""

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
