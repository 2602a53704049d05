"""HTTPS/WSS for the emulator: the server's TLS context and a locally generated CA for tests.

Production talks to API Gateway over HTTPS only, so the fan-out client's TLS path must run in
tests too: start the emulator with ``--tls-cert/--tls-key`` (or ``EmulatorServer(tls=...)``)
and give clients the CA bundle (``verify=ca_file`` for boto3, an ``ssl.SSLContext`` for
aiohttp and the fan-out client).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from .config import EmulatorConfig


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a server certificate, its key and the CA that signed it."""

    cert: str
    key: str
    ca: str

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting only this CA, with hostname checks on."""
        return ssl.create_default_context(cafile=self.ca)


def server_context(config: EmulatorConfig) -> ssl.SSLContext | None:
    """The listening socket's TLS context, or None for plain HTTP."""
    if not config.tls_cert:
        return None
    if not config.tls_key:
        raise ValueError("--tls-cert needs --tls-key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # API Gateway's TLS_1_2 security policy
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


def local_ca_files(
    directory: str | Path, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsFiles:
    """Generate a throw-away CA and a server certificate for ``hostnames`` (needs ``trustme``).

    Nothing is trusted system-wide: only clients given ``ca`` trust the certificate.
    """
    import trustme  # a test dependency (the ``dev`` extra), imported only when asked for

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(*hostnames)
    files = TlsFiles(
        cert=str(folder / "emulator-cert.pem"),
        key=str(folder / "emulator-key.pem"),
        ca=str(folder / "ca.pem"),
    )
    server.cert_chain_pems[0].write_to_path(files.cert)
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(files.cert, append=True)
    server.private_key_pem.write_to_path(files.key)
    ca.cert_pem.write_to_path(files.ca)
    return files
