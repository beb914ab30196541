"""Checking a bundle the way its recipient would: system unzip, sha256sum, openssl, pdftotext."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from PIL import Image


def run(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=check)


def unzip(zip_path: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    run("unzip", "-q", str(zip_path), "-d", str(into))
    return into


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess:
    return run("sha256sum", "-c", "SHA256SUMS", cwd=folder, check=False)


def openssl_verify(folder: Path, manifest: str = "manifest.json") -> subprocess.CompletedProcess:
    return run(
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "export-public-key.pem",
        "-rawin",
        "-in",
        manifest,
        "-sigfile",
        "manifest.sig",
        cwd=folder,
        check=False,
    )


def pdf_text(path: Path) -> str:
    return run("pdftotext", str(path), "-").stdout


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def has_metadata(path: Path) -> bool:
    """Whether a JPEG carries EXIF (and so perhaps GPS) or other application data."""
    with Image.open(path) as image:
        exif = image.getexif()
        return bool(exif) or "exif" in image.info or "gps" in str(image.info).lower()


def assert_bundle_verifies(folder: Path) -> dict:
    """The recipient's checks: every sum OK, the signature OK; returns the manifest."""
    sums = sha256sum_check(folder)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    lines = sums.stdout.strip().splitlines()
    assert lines and all(line.endswith(": OK") for line in lines), sums.stdout
    verified = openssl_verify(folder)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Signature Verified Successfully" in verified.stdout
    data = manifest(folder)
    listed = {e["path"] for e in data["files"]}
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {
        "manifest.json",
        "manifest.sig",
        "SHA256SUMS",
    }
    assert listed == on_disk
    return data
