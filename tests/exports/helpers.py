"""Checking a bundle the way its recipient would: system unzip, sha256sum, openssl, pdftotext."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def run(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=check)


def unzip(zip_path: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    run("unzip", "-q", str(zip_path), "-d", str(into))
    return into


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess:
    return run("sha256sum", "-c", "SHA256SUMS", cwd=folder, check=False)


def openssl_verify(folder: Path, key: str = "export-public-key.pem") -> subprocess.CompletedProcess:
    """VERIFY.txt's signature step: the clinic's signature of SHA256SUMS."""
    return run(
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        key,
        "-rawin",
        "-in",
        "SHA256SUMS",
        "-sigfile",
        "SHA256SUMS.sig",
        cwd=folder,
        check=False,
    )


def listed(folder: Path) -> set[str]:
    """The paths SHA256SUMS lists."""
    return {line[66:] for line in (folder / "SHA256SUMS").read_text().splitlines()}


def rezip(folder: Path, to: Path) -> Path:
    """A ZIP of an (altered) unzipped bundle, as a tamperer would send it on."""
    import zipfile

    with zipfile.ZipFile(to, "w") as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, str(file.relative_to(folder)))
    return to


def pdf_text(path: Path) -> str:
    return run("pdftotext", str(path), "-").stdout


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def has_metadata(path: Path) -> bool:
    """Whether a JPEG carries EXIF (and so perhaps GPS), XMP, ICC or a comment: any APPn
    segment but the JFIF header, or COM, before the image data. Read from the markers, so no
    decoder setting (another test's pixel limit) changes the answer."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8", f"{path} is not a JPEG"
    at = 2
    while at + 4 <= len(data):
        assert data[at] == 0xFF, f"{path}: bad marker at {at}"
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: the image data, no metadata after it matters
            return False
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segment = data[at + 4 : at + 2 + length]
        if marker == 0xFE or (0xE1 <= marker <= 0xEF):
            return True
        if marker == 0xE0 and not segment.startswith(b"JFIF\x00"):
            return True
        at += 2 + length
    return False


def assert_bundle_verifies(folder: Path) -> dict:
    """The recipient's checks: every sum OK, the signature of SHA256SUMS OK, no file that
    SHA256SUMS does not list; returns the manifest."""
    sums = sha256sum_check(folder)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    lines = sums.stdout.strip().splitlines()
    assert lines and all(line.endswith(": OK") for line in lines), sums.stdout
    verified = openssl_verify(folder)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Signature Verified Successfully" in verified.stdout
    data = manifest(folder)
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk - {"SHA256SUMS", "SHA256SUMS.sig"} == listed(folder)
    # The manifest describes every file but itself and those written after it.
    assert {e["path"] for e in data["files"]} <= listed(folder) - {"manifest.json"}
    return data
