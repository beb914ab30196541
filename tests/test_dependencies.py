"""What ships is what was tested: lock files with hashes, used by `make install` and the image;
`make run` needs no Node; nothing is created as root at import time."""

import os
import re
import shutil
import subprocess
import sys
import tomllib

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
        assert "--require-hashes -r requirements-dev.lock" in commands
        assert "--no-deps" in commands
        assert "npm" not in commands, f"make {target} would need Node"
    assert "npm ci" in make_dry_run("test")


def test_make_install_reruns_when_a_lock_changes():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(VENV\)/\.installed:(.*)$", makefile, re.M)
    assert rule and "requirements-dev.lock" in rule.group(1)


def settings_import(tmp_path, **env) -> subprocess.CompletedProcess:
    """Import a copy of clinic/settings.py whose BASE_DIR is tmp_path, as a fresh clone would."""
    package = tmp_path / "clinic"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "clinic" / "settings.py", package / "settings.py")
    drop = {"DATABASE_URL", "DJANGO_VAR_DIR", "DJANGO_PRODUCTION", "S3_BUCKET"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-c", "import clinic.settings"],
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
