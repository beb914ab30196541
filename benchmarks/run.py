"""`make bench`: the photo pipeline and encryption figures, printed as one JSON object.

Everything is measured in this run on inputs made here: a synthetic 12-megapixel phone JPEG
(4032 x 3024, GPS EXIF, orientation 6) and the same picture as a HEIC. Figures are medians of
several interleaved repeats on one core.

photo_pipeline_ms is the worker's job as photos.services.photo_process does it: decrypt the
original, make_renditions (which re-checks format, limits and frames and refuses truncated data
while decoding), encrypt and write the renditions. The upload-time inspection runs in the web
request instead; photo_upload_ms and photo_pipeline_with_inspect_ms show its cost.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from PIL import Image  # noqa: E402

from clinic.rls import ensure_roles  # noqa: E402
from photos import imaging  # noqa: E402
from tests.photos import images  # noqa: E402
from vault import crypto  # noqa: E402

PHOTO_SIZE = (4032, 3024)
CRYPTO_MB = 40
REPEATS = {"photo": 11, "heic": 5, "crypto": 9}


def median_ms(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Run each function repeats times, interleaved so machine noise hits all alike."""
    for function in functions.values():
        function()  # warm caches and lazy imports
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


class Worker:
    """The worker's whole job on one photo, with keys and storage as the app uses them."""

    def __init__(self, original: bytes, directory: Path) -> None:
        self.clinic_key = crypto.new_data_key()
        self.directory = directory
        self.original_key = crypto.new_data_key()
        self.original_aad = b"clinic:1/photo:1/original"
        self.encrypted_original = crypto.encrypt_bytes(
            self.original_key, self.original_aad, original
        )

    def store(self, name: str, ciphertext: bytes) -> None:
        (self.directory / name).write_bytes(ciphertext)

    def upload(self, original: bytes) -> None:
        """The web request's share: hash, inspect by content, encrypt and store the original."""
        hashlib.sha256(original).hexdigest()
        imaging.inspect_upload(original, "IMG_0001.JPG")
        self.store("upload", crypto.encrypt_bytes(self.original_key, self.original_aad, original))

    def process(self, inspect: bool = False) -> imaging.Renditions:
        original = crypto.decrypt_bytes(
            self.original_key, self.original_aad, self.encrypted_original
        )
        if inspect:
            imaging.inspect_upload(original, "IMG_0001")
        renditions = imaging.make_renditions(original)
        # The original is written again as a staged upload is flushed; each rendition gets a
        # fresh data key wrapped by the clinic key.
        self.store("original", self.encrypted_original)
        for purpose, data in (("display", renditions.display), ("thumb", renditions.thumb)):
            key = crypto.new_data_key()
            aad = f"clinic:1/photo:1/{purpose}".encode()
            crypto.wrap_key(self.clinic_key, key, aad)
            self.store(purpose, crypto.encrypt_bytes(key, aad, data))
        return renditions


def naive_renditions(original: bytes) -> tuple[bytes, bytes]:
    """The same two renditions the way most apps make them: full decode, thumbnail() twice."""
    image = Image.open(io.BytesIO(original))
    image.load()
    full = image.copy()
    image.thumbnail((imaging.DISPLAY_PX, imaging.DISPLAY_PX))
    full.thumbnail((imaging.THUMB_PX, imaging.THUMB_PX))
    display, thumb = io.BytesIO(), io.BytesIO()
    image.convert("RGB").save(display, "JPEG", quality=imaging.RENDITION_QUALITY)
    full.convert("RGB").save(thumb, "JPEG", quality=imaging.RENDITION_QUALITY)
    return display.getvalue(), thumb.getvalue()


def heic_plugin_decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def heic_direct_decode(data: bytes) -> Image.Image:
    return imaging.pillow_heif.open_heif(data).to_pillow()


def photo_figures(directory: Path) -> dict[str, float]:
    picture = images.photo_like(*PHOTO_SIZE)
    jpeg = images.encode(
        images.with_red_corner(picture),
        "JPEG",
        quality=90,
        exif=images.phone_exif(orientation=6).tobytes(),
    )
    # The same photo tagged Display P3, as an iPhone tags it, so the renditions are converted.
    p3_jpeg = images.encode(
        images.with_red_corner(picture),
        "JPEG",
        quality=90,
        exif=images.phone_exif(orientation=6).tobytes(),
        icc_profile=images.display_p3_profile(),
    )
    worker, p3_worker = Worker(jpeg, directory), Worker(p3_jpeg, directory)
    ms = median_ms(
        {
            "photo_pipeline_ms": worker.process,
            "photo_naive_ms": lambda: naive_renditions(jpeg),
            "photo_pipeline_with_inspect_ms": lambda: worker.process(inspect=True),
            "photo_pipeline_p3_ms": p3_worker.process,
            "photo_upload_ms": lambda: worker.upload(jpeg),
        },
        REPEATS["photo"],
    )
    ms["photo_jpeg_mb"] = len(jpeg) / 1e6
    return ms


def heic_figures(directory: Path) -> dict[str, float]:
    picture = images.photo_like(*PHOTO_SIZE)
    heic = images.heic(picture, quality=50, exif=images.phone_exif(orientation=6).tobytes())
    worker = Worker(heic, directory)
    ms = median_ms(
        {
            "heic_pipeline_ms": worker.process,
            "heic_plugin_decode_ms": lambda: heic_plugin_decode(heic),
            "heic_direct_decode_ms": lambda: heic_direct_decode(heic),
        },
        REPEATS["heic"],
    )
    # The bare decode is the faster of pillow-heif's two ways to a Pillow image.
    ms["heic_decode_ms"] = min(ms["heic_plugin_decode_ms"], ms["heic_direct_decode_ms"])
    ms["heic_mb"] = len(heic) / 1e6
    return ms


def crypto_figures() -> dict[str, float]:
    data = os.urandom(CRYPTO_MB * 1024 * 1024)
    key, aad, nonce = crypto.new_data_key(), b"clinic:1/export:1", os.urandom(12)
    ms = median_ms(
        {
            "encrypt_bytes": lambda: crypto.encrypt_bytes(key, aad, data),
            "encrypt_stream": lambda: crypto.encrypt_stream(
                key, aad, io.BytesIO(data), io.BytesIO()
            ),
            "aesgcm_raw": lambda: AESGCM(key).encrypt(nonce, data, aad),
        },
        REPEATS["crypto"],
    )
    megabytes = len(data) / 1e6
    return {
        "encrypt_mb_s": megabytes / (ms["encrypt_bytes"] / 1000),
        "encrypt_stream_mb_s": megabytes / (ms["encrypt_stream"] / 1000),
        "aesgcm_raw_mb_s": megabytes / (ms["aesgcm_raw"] / 1000),
    }


ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def throwaway_database(prefix: str, *, owner: str | None, what: str) -> str | None:
    """Create a database for one benchmark and return its name, or say why ``what`` is skipped
    and return None when PostgreSQL cannot be reached. With ``owner`` the two roles are made
    first (a new machine has neither). ``drop_database`` removes it afterwards."""
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    try:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            if owner:
                ensure_roles(conn)
            conn.execute(f"CREATE DATABASE {name}" + (f" OWNER {owner}" if owner else ""))
    except psycopg.Error as error:
        print(f"{what} figures skipped: {error}", file=sys.stderr)
        return None
    return name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def search_figures() -> dict[str, float]:
    """benchmarks/search.py in a throw-away PostgreSQL database (skipped without PostgreSQL)."""
    import subprocess

    name = throwaway_database("clinicphotos_bench", owner=None, what="patient search")
    if name is None:
        return {}
    try:
        env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}"}
        env.pop("REDIS_URL", None)
        result = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "search.py")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        drop_database(name)


def export_figures() -> dict[str, float]:
    """benchmarks/export.py's three steps, each in a child on the embedded default."""
    figures: dict[str, float] = {}
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": os.environ.get("PATH", "/usr/bin")}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as var_dir:
        for step in ("setup", "export", "zipraw"):
            done = subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / "export.py"), step, var_dir],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            figures |= json.loads(done.stdout.strip().splitlines()[-1])
    figures.pop("photos", None)
    figures.pop("photo_mb", None)
    figures["export_vs_zip_raw"] = figures["export_mb_s"] / figures["zip_raw_mb_s"]
    return figures


def backup_figures() -> dict[str, float]:
    """benchmarks/backup.py's three steps, each in a child on the embedded default: backup and
    restore throughput against a plain copy of the same files in the same run."""
    figures: dict[str, float] = {}
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": os.environ.get("PATH", "/usr/bin")}
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        target = str(Path(tmp) / "target")
        for step, var_dir in (("setup", "live"), ("backup", "live"), ("restore", "restored")):
            (Path(tmp) / var_dir).mkdir(exist_ok=True)
            done = subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / "backup.py"), step,
                 str(Path(tmp) / var_dir), target],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )  # fmt: skip
            figures |= json.loads(done.stdout.strip().splitlines()[-1])
    figures.pop("objects", None)
    figures["backup_vs_copy"] = figures["backup_mb_s"] / figures["plain_copy_mb_s"]
    figures["restore_vs_copy"] = figures["restore_mb_s"] / figures["plain_copy_mb_s"]
    figures["backup_incremental_vs_full"] = (
        figures["backup_incremental_s"] / figures["backup_full_s"]
    )
    return figures


def audit_figures() -> dict[str, float]:
    """benchmarks/audit_log.py: a throw-away database migrated by the owner role, 1,000,000
    events loaded with COPY by the superuser, measured as the app role (RLS forced)."""
    import subprocess

    from benchmarks.audit_log import load

    name = throwaway_database("clinicphotos_audit_bench", owner="clinic_owner", what="audit log")
    if name is None:
        return {}
    try:
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as state:
            env = {**os.environ, "DATABASE_APP_ROLE": "clinic_app"}
            env.pop("REDIS_URL", None)
            script = str(ROOT / "benchmarks" / "audit_log.py")
            owner = f"postgres://clinic_owner@127.0.0.1:5432/{name}"
            subprocess.run(
                [sys.executable, script, "setup", state],
                env={**env, "DATABASE_URL": owner},
                check=True,
            )
            load_seconds = load(
                f"host=127.0.0.1 port=5432 user=postgres dbname={name}", Path(state)
            )
            result = subprocess.run(
                [sys.executable, script, "measure", state],
                env={**env, "DATABASE_URL": f"postgres://clinic_app@127.0.0.1:5432/{name}"},
                capture_output=True,
                text=True,
            )
            print(result.stderr, file=sys.stderr)  # the query plans, or what went wrong
            result.check_returncode()
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            figures["audit_load_s"] = load_seconds
            return figures
    finally:
        drop_database(name)


def scale_figures() -> dict[str, float]:
    """benchmarks/scale.py: seed_scale's volumes in a throw-away database (as the owner), then
    the pages through the views as the app role. BENCH_SCALE=0.1 for a tenth of the volumes."""
    import subprocess

    name = throwaway_database("clinicphotos_scale_bench", owner="clinic_owner", what="scale")
    if name is None:
        return {}
    try:
        with tempfile.TemporaryDirectory(prefix="scale-bench-") as state:
            env = {
                key: value
                for key, value in os.environ.items()
                if key not in {"REDIS_URL", "S3_BUCKET", "EMAIL_URL"}
            }
            env |= {"DATABASE_APP_ROLE": "clinic_app", "DJANGO_VAR_DIR": state}
            script = str(ROOT / "benchmarks" / "scale.py")
            subprocess.run(
                [sys.executable, script, "setup", state],
                env={**env, "DATABASE_URL": f"postgres://clinic_owner@127.0.0.1:5432/{name}"},
                check=True,
            )
            result = subprocess.run(
                [sys.executable, script, "measure", state],
                env={**env, "DATABASE_URL": f"postgres://clinic_app@127.0.0.1:5432/{name}"},
                capture_output=True,
                text=True,
            )
            print(result.stderr[-4000:], file=sys.stderr)
            result.check_returncode()
            return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        drop_database(name)


def comparison_figures() -> dict[str, float]:
    """benchmarks/comparisons.py in a process of its own (it sets Django up for the PDF)."""
    import subprocess

    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "comparisons.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["pdf_vs_bare"] = figures["comparison_pdf_ms"] / figures["weasyprint_bare_ms"]
    figures["align_vs_naive"] = figures["comparison_align_ms"] / figures["align_naive_ms"]
    figures["image_vs_decode"] = figures["comparison_image_ms"] / figures["comparison_decode_ms"]
    return figures


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        figures = photo_figures(Path(tmp)) | heic_figures(Path(tmp)) | crypto_figures()
    figures |= search_figures()
    figures |= audit_figures()
    figures |= export_figures()
    figures |= backup_figures()
    figures |= comparison_figures()
    figures |= scale_figures()
    figures["pipeline_vs_naive"] = figures["photo_pipeline_ms"] / figures["photo_naive_ms"]
    figures["heic_pipeline_vs_decode"] = figures["heic_pipeline_ms"] / figures["heic_decode_ms"]
    figures["encrypt_vs_raw"] = figures["encrypt_mb_s"] / figures["aesgcm_raw_mb_s"]
    figures["bench_seconds"] = time.perf_counter() - started
    print(json.dumps({name: round(value, 3) for name, value in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
