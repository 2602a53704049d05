"""The fast tier (``python3 dev.py test -m unit``): pure logic, no services.

Every module here is marked ``unit``; none touches the database, Redis, the emulator or a
subprocess (pytest-django refuses database access to tests not marked ``django_db``). Where the
code under test reaches for a service, the test hands it an in-memory fake instead. Pure test
modules elsewhere join the tier with ``pytestmark = pytest.mark.unit`` (tests/ingestion/test_security.py).
"""
