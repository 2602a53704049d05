"""Demo-only commands (``manage.py demo_setup``)."""
