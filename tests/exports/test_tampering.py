"""The insurer's check against a determined tamperer: the exact commands VERIFY.txt prints, run
with the system's own curl, openssl, sha256sum, find and diff in the unzipped folder (the key
fetched from the clinic's public key page on a live server), fail on every kind of change; and
``manage.py verify_export`` names the file that changed."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.test import modify_settings, override_settings
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from exports import services, signing
from exports.models import Export
from tests import factories as f
from tests.exports import helpers as h

pytestmark = pytest.mark.xdist_group("exports-live")

COMMAND = re.compile(r"^ {7}(\S.*)$")


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker):
    allowed = modify_settings(ALLOWED_HOSTS={"append": "127.0.0.1"})
    allowed.enable()
    with django_db_blocker.unblock():
        thread = LiveServerThread("127.0.0.1", static_handler=_StaticFilesHandler, port=0)
        thread.daemon = True
        thread.start()
        thread.is_ready.wait()
        if thread.error:
            raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    allowed.disable()


def _build(live: str, tmp_path: Path, *, photos: int = 2, **overrides) -> tuple[Path, Export]:
    """A clinic of its own with a patient and photos, exported as the worker does, with
    SITE_URL at the live server (so VERIFY.txt's key address is reachable)."""
    clinic = f.make_clinic("Tamper Test Clinic")
    admin = f.make_member(clinic, "admin")
    with override_settings(SITE_URL=live, **overrides), clinic_context(clinic.id):
        patient = f.make_patient(
            clinic, admin, first_name="Lena", last_name="Vogt", email="lena@example.com"
        )
        episode = f.make_episode(clinic, patient, admin)
        for stage in ("before", "after", "after", "before")[:photos]:
            f.make_ready_photo(clinic, patient, episode, admin, stage=stage)
        export = services.export_create(
            clinic=clinic,
            patient=patient,
            recipient="Claims team, ref T-1",
            reason="claim",
            by=admin,
            queue=False,
        )
        services.export_build(clinic_id=clinic.id, export_id=export.pk)
        export = Export.objects.select_related("signing_key", "clinic").get(pk=export.pk)
        data = b"".join(services.export_download(export=export, by=admin))
    path = tmp_path / export.filename
    path.write_bytes(data)
    return path, export


def _unzip(zip_path: Path, into: Path) -> Path:
    if into.exists():
        shutil.rmtree(into)
    # A folder of its own inside a parent of its own: step 1 writes the key to "..".
    return h.unzip(zip_path, into / "bundle")


def commands(verify_text: str) -> list[str]:
    """The commands VERIFY.txt tells the recipient to run, in order."""
    return [m.group(1) for line in verify_text.splitlines() if (m := COMMAND.match(line))]


def follow(folder: Path, steps: list[str]) -> list[subprocess.CompletedProcess]:
    """Run each command as the recipient would, in bash in the bundle's folder; stop at the
    first that fails (as a careful person would)."""
    done = []
    for step in steps:
        result = subprocess.run(
            ["bash", "-c", step], cwd=folder, capture_output=True, text=True, timeout=60
        )
        done.append(result)
        if result.returncode != 0:
            break
    return done


def passes(results: list[subprocess.CompletedProcess], steps: list[str]) -> bool:
    return len(results) == len(steps) and all(r.returncode == 0 for r in results)


def verify_export(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_export", str(path), stdout=out)
        return 0, out.getvalue()
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()


def rezip(folder: Path, to: Path) -> Path:
    """The tamperer's ZIP of a changed folder (so verify_export sees what they send)."""
    with zipfile.ZipFile(to, "w") as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, str(file.relative_to(folder)))
    return to


def sums_line_update(folder: Path, path: str) -> None:
    """What a tamperer does after changing a file: put its new hash in SHA256SUMS."""
    new = hashlib.sha256((folder / path).read_bytes()).hexdigest()
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    lines = [f"{new}  {path}" if line[66:] == path else line for line in lines]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def first_original(folder: Path) -> str:
    return sorted(str(p.relative_to(folder)) for p in (folder / "originals").iterdir())[0]


def paint(folder: Path, path: str) -> None:
    """Fuller lips: some pixels of the photo changed, a JPEG again."""
    from PIL import Image, ImageDraw

    with Image.open(folder / path) as image:
        image = image.convert("RGB")
        ImageDraw.Draw(image).ellipse((100, 100, 220, 160), fill=(190, 60, 80))
        image.save(folder / path, "JPEG", quality=90)


def test_the_documented_check_passes_an_intact_bundle_and_fails_every_tampering(
    committed_db, live, tmp_path
):
    zip_path, export = _build(live, tmp_path)
    intact = _unzip(zip_path, tmp_path / "intact")
    steps = commands((intact / "VERIFY.txt").read_text())
    # Fetch the key from the clinic's site, check the signature, the sums, nothing added.
    assert [s.split()[0] for s in steps] == ["curl", "openssl", "sha256sum", "find"], steps
    assert f"{live}/p/{export.clinic.slug}/export-keys/" in steps[0]
    results = follow(intact, steps)
    assert passes(results, steps), [(r.stdout, r.stderr) for r in results]
    assert "Signature Verified Successfully" in results[1].stdout
    assert results[3].stdout == ""  # step 4 prints nothing
    code, out = verify_export(zip_path)
    assert code == 0 and "INTACT" in out, out

    def tampered(name: str) -> Path:
        return _unzip(zip_path, tmp_path / name)

    # 1. A photo changed and its line in SHA256SUMS updated: the signature fails.
    folder = tampered("photo")
    photo = first_original(folder)
    paint(folder, photo)
    sums_line_update(folder, photo)
    assert h.sha256sum_check(folder).returncode == 0  # the old check alone would pass
    results = follow(folder, steps)
    assert not passes(results, steps)
    assert results[-1].returncode != 0 and "Signature Verified Successfully" not in (
        results[-1].stdout
    )
    code, out = verify_export(rezip(folder, tmp_path / "photo.zip"))
    assert code == 1 and "SHA256SUMS" in out and "NOT INTACT" in out, out

    # 2. The photo changed, SHA256SUMS left alone: sha256sum names it.
    folder = tampered("photo-only")
    photo = first_original(folder)
    paint(folder, photo)
    results = follow(folder, steps)
    assert not passes(results, steps) and f"{photo}: FAILED" in results[-1].stdout
    code, out = verify_export(rezip(folder, tmp_path / "photo-only.zip"))
    assert code == 1 and f"PROBLEM  {photo}: changed" in out, out

    # 3. A file added: step 4 prints it.
    folder = tampered("added")
    (folder / "originals" / "999-extra.jpg").write_bytes(f.photo_jpeg())
    results = follow(folder, steps)
    assert not passes(results, steps)
    assert "originals/999-extra.jpg" in results[-1].stdout
    code, out = verify_export(rezip(folder, tmp_path / "added.zip"))
    assert code == 1 and "PROBLEM  originals/999-extra.jpg: added" in out, out

    # 4. A file removed: sha256sum cannot open it.
    folder = tampered("removed")
    gone = sorted(str(p.relative_to(folder)) for p in (folder / "renditions").iterdir())[0]
    (folder / gone).unlink()
    results = follow(folder, steps)
    assert not passes(results, steps) and gone in results[-1].stdout + results[-1].stderr
    code, out = verify_export(rezip(folder, tmp_path / "removed.zip"))
    assert code == 1 and f"PROBLEM  {gone}: listed in SHA256SUMS but missing" in out, out

    # 5. manifest.json changed (another recipient written in): its sum fails.
    folder = tampered("manifest")
    manifest = folder / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b"Claims team", b"Claimz team"))
    results = follow(folder, steps)
    assert not passes(results, steps) and "manifest.json: FAILED" in results[-1].stdout
    code, out = verify_export(rezip(folder, tmp_path / "manifest.zip"))
    assert code == 1 and "PROBLEM  manifest.json: changed" in out, out

    # 6. SHA256SUMS itself changed (a line dropped): the signature fails.
    folder = tampered("sums")
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    (folder / "SHA256SUMS").write_text("\n".join(lines[1:]) + "\n")
    results = follow(folder, steps)
    assert not passes(results, steps) and len(results) == 2
    code, out = verify_export(rezip(folder, tmp_path / "sums.zip"))
    assert code == 1 and "PROBLEM  SHA256SUMS" in out, out


def test_a_bundle_re_signed_with_a_strangers_key_fails_the_documented_check(
    committed_db, live, tmp_path
):
    zip_path, export = _build(live, tmp_path)
    original_steps = commands(
        _unzip(zip_path, tmp_path / "orig").joinpath("VERIFY.txt").read_text()
    )
    folder = _unzip(zip_path, tmp_path / "resigned")
    photo = first_original(folder)
    paint(folder, photo)
    sums_line_update(folder, photo)
    stranger = Ed25519PrivateKey.generate()
    (folder / "SHA256SUMS.sig").write_bytes(stranger.sign((folder / "SHA256SUMS").read_bytes()))
    (folder / "export-public-key.pem").write_bytes(
        stranger.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # With the bundle's own key the old check would now pass...
    assert h.openssl_verify(folder).returncode == 0
    # ...but the documented check fetches the clinic's key from its site, and fails: whether
    # the tamperer left VERIFY.txt alone or rewrote it, the cover letter gives these steps.
    results = follow(folder, original_steps)
    assert not passes(results, original_steps)
    assert results[0].returncode == 0 and results[1].returncode != 0
    assert "Signature Verified Successfully" not in results[1].stdout
    # Offline, the bundle's key fingerprint differs from the one on the letter and the page.
    printed = subprocess.run(
        "openssl pkey -pubin -in export-public-key.pem -outform DER | tail -c 32 | sha256sum",
        shell=True,
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert printed != export.signing_key.fingerprint
    code, out = verify_export(rezip(folder, tmp_path / "resigned.zip"))
    assert code == 1 and "PROBLEM  export-public-key.pem" in out and "SHA256SUMS" in out, out


def test_after_a_key_rotation_old_bundles_still_verify_and_new_ones_use_the_new_key(
    committed_db, live, tmp_path
):
    zip_path, export = _build(live, tmp_path)
    clinic = export.clinic
    with clinic_context(clinic.id):
        new = signing.signing_key_rotate(clinic=clinic, by=None)
    assert new.fingerprint != export.signing_key.fingerprint
    folder = _unzip(zip_path, tmp_path / "old")
    steps = commands((folder / "VERIFY.txt").read_text())
    assert passes(follow(folder, steps), steps)  # the retired key is still published
    code, out = verify_export(zip_path)
    assert code == 0 and "retired" in out, out
    page = subprocess.run(
        ["curl", "-fsS", f"{live}/p/{clinic.slug}/export-keys/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert export.signing_key.fingerprint in page and new.fingerprint in page
    assert "Retired key" in page and "Current key" in page
    with clinic_context(clinic.id):
        (rotated,) = AuditEvent.objects.filter(clinic=clinic, action="export.signing_key_rotated")
    assert rotated.details["retired_fingerprint"] == export.signing_key.fingerprint


def test_verify_export_refuses_a_file_that_is_not_a_bundle(committed_db, tmp_path):
    from django.core.management.base import CommandError

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="names no clinic"):
        call_command("verify_export", str(junk))
    with pytest.raises(CommandError, match="is not a file"):
        call_command("verify_export", str(tmp_path / "missing.zip"))


# --- a trusted timestamp from a local time-stamping authority (openssl ts -reply) ----------

TSA_CONF = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
certs = $dir/tsa.crt
"""


class LocalTSA:
    """A time-stamping authority on loopback: a CA, a TSA certificate with the critical
    timeStamping usage, and an HTTP server that answers each query with `openssl ts -reply`."""

    def __init__(self, root: Path) -> None:
        import http.server
        import threading

        self.dir = root
        root.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                "-out", "ca.crt", "-days", "2", "-subj", "/CN=Test TSA Root")  # fmt: skip
        (root / "ext.cnf").write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=critical,timeStamping\n"
        )
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
                "-subj", "/CN=Test TSA")  # fmt: skip
        openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "tsa.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
        (root / "serial").write_text("01\n")
        (root / "tsa.cnf").write_text(TSA_CONF.format(dir=root))
        self.ca = root / "ca.crt"
        self.answered = 0
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                query = self.rfile.read(int(self.headers["Content-Length"]))
                (root / "q.tsq").write_bytes(query)
                subprocess.run(
                    [
                        "openssl",
                        "ts",
                        "-reply",
                        "-config",
                        "tsa.cnf",
                        "-queryfile",
                        "q.tsq",
                        "-out",
                        "r.tsr",
                    ],  # fmt: skip
                    cwd=root,
                    check=True,
                    capture_output=True,
                )
                reply = (root / "r.tsr").read_bytes()
                tsa.answered += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def tsa(tmp_path):
    authority = LocalTSA(tmp_path / "tsa")
    yield authority
    authority.stop()


def test_a_trusted_timestamp_verifies_with_openssl_ts_and_fails_after_a_manifest_byte_changes(
    committed_db, live, tmp_path, tsa
):
    zip_path, export = _build(
        live, tmp_path, EXPORT_TSA_URL=tsa.url, EXPORT_TSA_CA_FILE=str(tsa.ca)
    )
    assert tsa.answered == 1 and export.timestamped_at is not None
    folder = _unzip(zip_path, tmp_path / "stamped")
    steps = commands((folder / "VERIFY.txt").read_text())
    assert steps[-1].startswith("openssl ts -verify -data manifest.json")
    results = follow(folder, steps)
    assert passes(results, steps), [(r.stdout, r.stderr) for r in results]
    assert "Verification: OK" in results[-1].stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["timestamp"]["file"] == "timestamp/manifest.json.tsr"
    # The time it vouches for, as the recipient reads it.
    shown = subprocess.run(
        "openssl ts -reply -in timestamp/manifest.json.tsr -text | grep 'Time stamp'",
        shell=True, cwd=folder, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"{export.timestamped_at:%b}" in shown
    code, out = verify_export(zip_path)
    assert code == 0 and "time-stamped" in out, out

    # One byte of the manifest changed: openssl ts -verify fails (as does the sums step).
    changed = bytearray((folder / "manifest.json").read_bytes())
    changed[20] ^= 0x01
    (folder / "manifest.json").write_bytes(bytes(changed))
    ts = subprocess.run(["bash", "-c", steps[-1]], cwd=folder, capture_output=True, text=True)
    assert ts.returncode != 0 and "Verification: OK" not in ts.stdout


def test_without_an_authority_the_export_works_as_before_and_says_so(committed_db, live, tmp_path):
    zip_path, export = _build(live, tmp_path, photos=1)
    folder = _unzip(zip_path, tmp_path / "plain")
    verify = (folder / "VERIFY.txt").read_text()
    assert "does not add a trusted timestamp" in verify
    assert not (folder / "timestamp").exists() and export.timestamped_at is None
    assert json.loads((folder / "manifest.json").read_text())["timestamp"] is None


def test_an_authority_that_does_not_answer_leaves_the_export_built_and_says_why(
    committed_db, live, tmp_path
):
    zip_path, export = _build(
        live, tmp_path, photos=1, EXPORT_TSA_URL="http://127.0.0.1:9/tsa", EXPORT_TSA_TIMEOUT=2
    )
    folder = _unzip(zip_path, tmp_path / "unstamped")
    verify = (folder / "VERIFY.txt").read_text()
    assert "carries no trusted timestamp" in verify and "did not answer" in verify
    steps = commands(verify)
    assert passes(follow(folder, steps), steps)
    with clinic_context(export.clinic_id):
        (built,) = AuditEvent.objects.filter(clinic_id=export.clinic_id, action="export.built")
    assert "did not answer" in built.details["timestamp"]


def test_each_export_writes_an_audit_checkpoint_first_and_carries_it(committed_db, live, tmp_path):
    from audit import checkpoints

    zip_path, export = _build(live, tmp_path, photos=1)
    folder = _unzip(zip_path, tmp_path / "checkpoint")
    carried = json.loads((folder / "audit" / "checkpoint.json").read_text())
    stored = checkpoints.latest(export.clinic_id).checkpoint
    assert carried["written"] and carried["object"] == stored.name
    assert carried["head_hash"] == stored.head_hash
    with clinic_context(export.clinic_id):
        created = AuditEvent.objects.get(clinic_id=export.clinic_id, action="export.created")
    assert carried["seq"] >= created.seq  # the request itself is vouched for
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["audit_checkpoint"]["seq"] == carried["seq"]
    listed = (folder / "VERIFY.txt").read_text()
    for name in ("originals/", "renditions/", "audit/"):
        assert f"  {name}" in listed, name
