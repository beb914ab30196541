"""What ships is what was tested: lock files with hashes, used by `make install` and the image;
`make run` needs no Node; nothing is created as root at import time."""

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from tests.conftest import ROOT

RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9._-]+", spec).group(0))


def pins(lock) -> dict[str, str]:
    """{name: version} of a lock file, checking that every pin carries at least one hash."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
    found = {}
    for entry in entries:
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        if not match:
            continue
        assert "--hash=sha256:" in entry, f"{match.group(1)} in {lock.name} has no hash"
        found[canonical(match.group(1))] = match.group(2)
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_is_pinned_with_hashes():
    runtime = pins(RUNTIME_LOCK)
    for spec in project()["dependencies"]:
        assert requirement_name(spec) in runtime, f"{spec} is not in requirements.lock"
    assert {"opencv-python-headless", "numpy"} <= set(runtime)


def test_the_dev_lock_adds_the_dev_tools_to_the_same_runtime_pins():
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    for spec in project()["optional-dependencies"]["dev"]:
        assert requirement_name(spec) in dev, f"{spec} is not in requirements-dev.lock"
    differing = {name: (v, dev.get(name)) for name, v in runtime.items() if dev.get(name) != v}
    assert not differing, f"the locks disagree: {differing}"


def test_the_image_installs_the_lock_before_copying_the_code():
    lines = [
        line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()
    ]
    copy_lock = lines.index("COPY requirements.lock ./")
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    copy_code = lines.index("COPY . .")
    assert copy_lock < install < copy_code
    assert "--require-hashes" in lines[install] and "-r requirements.lock" in lines[install]
    assert sum("pip install" in line for line in lines) == 1
    assert lines[-3] == "USER clinic"


def test_the_image_build_makes_no_var_directory():
    dockerfile = (ROOT / "Dockerfile").read_text()
    collectstatic = dockerfile[dockerfile.index("RUN DJANGO_PRODUCTION=1") :]
    collectstatic = collectstatic[: collectstatic.index("USER clinic")]
    assert "DATABASE_URL=" in collectstatic and "test ! -e var" in collectstatic


def make_dry_run(target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_install_and_run_use_the_lock_and_need_no_node():
    for target in ("install", "run"):
        commands = make_dry_run(target)
        assert "-r requirements-dev.lock" in commands
        assert "npm" not in commands, f"make {target} would need Node"
    assert "npm ci" in make_dry_run("test")


def lock_install_command() -> list[str]:
    """The command `make install` installs requirements-dev.lock with, as make would run it."""
    lines = [
        line for line in make_dry_run("install").splitlines() if "requirements-dev.lock" in line
    ]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def toy_wheel(folder, name: str, version: str, requires=(), extras=()) -> str:
    """A pure-Python wheel made on the spot (no registry); returns its sha256."""
    dist = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Provides-Extra: {extra}\n" for extra in extras)
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files = {
        f"{name}/__init__.py": b"",
        f"{dist}/METADATA": metadata.encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_make_install_installs_the_lock_as_a_lock_when_a_newer_extra_is_published(tmp_path):
    """The fresh-clone failure of 2026-12-07, in miniature and offline: a locked package asks
    for `beta[extra]>=1.0`, the lock pins beta 1.0, and the index has since published beta 1.1.
    Resolving dependencies, pip 23.2 (what a python3.11 venv ships) treats `beta[extra]` as a
    requirement of its own and stops: "In --require-hashes mode, all requirements must have
    their versions pinned with ==". Installed as a lock, exactly the pinned files go in."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    alpha = toy_wheel(wheels, "lockdemo_alpha", "1.0", requires=["lockdemo-beta[extra]>=1.0"])
    beta = toy_wheel(wheels, "lockdemo_beta", "1.0", extras=["extra"])
    toy_wheel(wheels, "lockdemo_beta", "1.1", extras=["extra"])  # published after the lock
    lock = tmp_path / "lock.txt"
    lock.write_text(
        f"lockdemo-alpha==1.0 \\\n    --hash=sha256:{alpha}\n"
        f"lockdemo-beta==1.0 \\\n    --hash=sha256:{beta}\n"
    )
    command = lock_install_command()
    python = command.index(".venv/bin/python")
    command[python] = sys.executable
    command[command.index("requirements-dev.lock")] = str(lock)
    target = tmp_path / "site"
    command += ["--no-index", "--find-links", str(wheels), "--target", str(target)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    installed = sorted(p.name for p in target.glob("*.dist-info"))
    assert installed == ["lockdemo_alpha-1.0.dist-info", "lockdemo_beta-1.0.dist-info"]


def test_make_install_checks_the_installed_lock_is_consistent():
    commands = make_dry_run("install").splitlines()
    lock = next(i for i, line in enumerate(commands) if "requirements-dev.lock" in line)
    check = next(i for i, line in enumerate(commands) if "pip check" in line)
    assert lock < check


def test_make_install_reruns_when_a_lock_changes():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(VENV\)/\.installed:(.*)$", makefile, re.M)
    assert rule and "requirements-dev.lock" in rule.group(1)


def settings_import(tmp_path, **env) -> subprocess.CompletedProcess:
    """Import a copy of config/settings.py whose BASE_DIR is tmp_path, as a fresh clone would."""
    package = tmp_path / "config"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "config" / "settings.py", package / "settings.py")
    drop = {"DATABASE_URL", "DJANGO_VAR_DIR", "DJANGO_PRODUCTION", "S3_BUCKET"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_make_no_var_directory_when_a_database_is_configured(tmp_path):
    result = settings_import(tmp_path, DATABASE_URL="postgres://clinic_app@db/clinic")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "var").exists()


def test_settings_make_var_for_the_embedded_sqlite_default(tmp_path):
    result = settings_import(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var").is_dir()
