"""docker-compose's front door on loopback: Caddy (Debian's ``caddy``, run on deploy/Caddyfile)
in front of gunicorn (deploy/gunicorn.conf.py) with production settings, as the compose
``proxy`` and ``web`` services run them, less the containers.

The certificate is one the test makes (a CA and a certificate for ``localhost`` and
127.0.0.1, with the ``cryptography`` package): Caddy is given it the way a clinic gives its
own (``TLS="cert.pem key.pem"``), and the clients trust that CA and nothing else. Caddy's
``tls internal`` mode is run too, by tests/test_https_proxy.py.

gunicorn serves ``tests.https_app``: the app itself plus one test-only download that lasts as
long as it is asked to.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import hashlib
import http.client
import http.cookiejar
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from django.conf import settings

from clinic.rls import APP_ROLE
from tests.conftest import IN_CI, ROOT

BIN = Path(sys.executable).parent


def caddy_binary() -> str:
    """Debian's caddy; a missing one fails under CI (make system-deps installs it)."""
    binary = shutil.which("caddy")
    if binary is None:
        message = "caddy is missing (Debian package caddy; `make system-deps` installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not start on port {port}:\n{log.read_text()[-3000:]}")


# --- a certificate the clinic was given ------------------------------------------------------


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path
    # base64 SHA-256 of the certificate's public key, for Chromium's
    # --ignore-certificate-errors-spki-list (it trusts this one key and no other).
    spki: str


def make_certificates(directory: Path) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test clinic CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = Certificates(
        ca=directory / "ca.pem",
        cert=directory / "cert.pem",
        key=directory / "key.pem",
        spki=base64.b64encode(
            hashlib.sha256(
                key.public_key().public_bytes(
                    serialization.Encoding.DER,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                )
            ).digest()
        ).decode(),
    )
    paths.ca.write_bytes(ca.public_bytes(pem))
    # The chain Caddy sends: the certificate, then its issuer.
    paths.cert.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    paths.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths.key.chmod(0o600)
    return paths


# --- gunicorn and Caddy ---------------------------------------------------------------------


def collect_static(env: dict[str, str]) -> None:
    """collectstatic into staticfiles/ as the image build does (production's hashed names);
    one test process at a time, since every process of the run shares the directory."""
    lock_path = ROOT / "var" / "collectstatic.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr


class Service:
    """A process of the stack, in a session of its own so that stopping it stops its
    children (gunicorn's workers)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class HttpsStack:
    """gunicorn on a free loopback port, Caddy in front of it on two more (HTTP and HTTPS)."""

    def __init__(self, directory: Path, *, db_name: str, s3_server, email_url: str) -> None:
        self.directory = directory
        self.certificates = make_certificates(directory)
        self.web_port, self.http_port, self.https_port = free_port(), free_port(), free_port()
        self.url = f"https://localhost:{self.https_port}"
        base = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        # docker-compose.yml's app environment, on loopback.
        self.env = {
            **base,
            "DJANGO_PRODUCTION": "1",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_hex(32),
            # The test process's keys, so that both sides read the same sealed secrets.
            "MASTER_KEY": settings.MASTER_KEY,
            "AUDIT_CHECKPOINT_KEY": settings.AUDIT_CHECKPOINT_KEY,
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "SITE_URL": self.url,
            "PROXY_COUNT": "1",
            "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{db_name}",
            "DATABASE_APP_ROLE": APP_ROLE,
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "S3_BUCKET": s3_server.bucket,
            "S3_ENDPOINT_URL": s3_server.endpoint,
            "S3_REGION": "eu-west-2",
            "S3_ACCESS_KEY_ID": "test",
            "S3_SECRET_ACCESS_KEY": "test",
            "EMAIL_URL": email_url,
            "WEB_CONCURRENCY": "2",
            "LOG_LEVEL": "WARNING",
            # gunicorn's control socket goes here rather than into a $HOME every run shares.
            "XDG_RUNTIME_DIR": str(directory),
        }
        self.services: list[Service] = []

    def start(self) -> HttpsStack:
        collect_static(self.env)
        web = Service(
            "gunicorn",
            [str(BIN / "gunicorn"), "tests.https_app:application", "--config",
             "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.web_port}"],
            self.env,
            self.directory,
        )  # fmt: skip
        self.services.append(web)
        wait_for_port(self.web_port, "gunicorn", web.log)
        self.caddy = self.start_caddy(
            "caddy",
            tls=f"{self.certificates.cert} {self.certificates.key}",
            http_port=self.http_port,
            https_port=self.https_port,
        )
        return self

    def start_caddy(self, name: str, *, tls: str, http_port: int, https_port: int) -> Service:
        """Caddy on deploy/Caddyfile with the environment compose gives it, its state (and
        for ``tls internal``, its CA) under this stack's directory."""
        home = self.directory / name
        home.mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "SITE_ADDRESS": "localhost",
            "TLS": tls,
            "UPSTREAM": f"127.0.0.1:{self.web_port}",
            "HTTP_PORT": str(http_port),
            "HTTPS_PORT": str(https_port),
            "BIND_HOST": "127.0.0.1",
        }
        caddy = Service(
            name,
            [caddy_binary(), "run", "--config", str(ROOT / "deploy" / "Caddyfile"),
             "--adapter", "caddyfile"],
            env,
            self.directory,
        )  # fmt: skip
        self.services.append(caddy)
        wait_for_port(https_port, name, caddy.log)
        return caddy

    def caddy_data(self, name: str) -> Path:
        return self.directory / name / "data" / "caddy"

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """``python manage.py ...`` with the stack's production settings."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


# What the test process has that the app's processes must not inherit.
DROPPED_ENV = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_URL",
    "S3_BUCKET",
    "EMAIL_URL",
    "SITE_URL",
    "PYTEST_XDIST_WORKER",
    "PYTEST_CURRENT_TEST",
}


def production_password(user, password: str) -> None:
    """Give ``user`` a password hashed as production hashes it: the test settings use a fast
    hasher that the app's own processes do not know."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(password, hasher.salt())
    user.save(update_fields=["password"])


# --- a client from a chosen loopback address ---------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class HttpsClient:
    """A browser-like client (cookies, CSRF) that connects from ``source`` (any 127.0.0.x is
    this machine) and trusts ``ca`` only. Redirects are returned, not followed."""

    def __init__(self, base_url: str, *, ca: Path, source: str = "127.0.0.1") -> None:
        self.base_url = base_url
        self.context = ssl.create_default_context(cafile=str(ca))
        self.cookies = http.cookiejar.CookieJar()
        # Sent with every request, on top of the browser-like ones.
        self.headers: dict[str, str] = {}
        connection = partial(http.client.HTTPSConnection, source_address=(source, 0))

        class FromSource(urllib.request.HTTPSHandler):
            def https_open(handler, request):  # noqa: N805 (the handler is self)
                return handler.do_open(connection, request, context=self.context)

        self.opener = urllib.request.build_opener(
            FromSource(), urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(self, path: str, data: dict | None = None, timeout: float = 30):
        """(status, headers, body) of GET ``path``, or of a form POST with the CSRF token."""
        headers = {"User-Agent": "https-stack-test", **self.headers}
        body = None
        if data is not None:
            token = next(c.value for c in self.cookies if c.name == "csrftoken")
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
            headers["Origin"] = self.base_url
            headers["Referer"] = self.base_url + path
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def sign_in(self, email: str, password: str):
        self.request("/login/")
        return self.request("/login/", {"email": email, "password": password})


def location(headers) -> str:
    return headers.get("Location", "")


def set_cookies(headers) -> dict[str, str]:
    """Each cookie the response set, by name, with its attributes as sent."""
    return {
        re.match(r"\s*([^=]+)=", value).group(1): value for value in headers.get_all("Set-Cookie")
    }
