"""`make load`: the production stack under simulated practitioners; prints one JSON object.

Starts the stack (load/stack.py), seeds it (load/seed.py) and waits for the seeded photos'
renditions, then runs locust headless (load/locustfile.py) from a second process for
``--seconds``. With ``--faults``, while uploads go on: the worker is killed with SIGKILL and
another started, Redis is restarted (losing every queued message), and S3 is unreachable for
``--s3-outage`` seconds. Afterwards load/verify.py checks every accepted upload, and the
report (markdown and a PNG chart) is written beside ``--report``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load import report  # noqa: E402
from load.stack import BIN, Stack  # noqa: E402


def _faults(
    stack: Stack,
    start: float,
    seconds: float,
    s3_outage: float,
    timeline: list[dict],
    stop: threading.Event,
) -> None:
    """Worker killed at 20 % of the run, Redis restarted at 40 %, S3 down from 55 %."""

    def at(fraction: float) -> bool:
        return not stop.wait(max(0.0, start + seconds * fraction - time.time()))

    def mark(short: str, what: str) -> None:
        timeline.append({"at": round(time.time() - start, 1), "short": short, "what": what})

    if not at(0.2):
        return
    mark("worker SIGKILL", "Celery worker and its pool killed with SIGKILL")
    stack.restart_worker()
    mark("new worker", "a new Celery worker started")
    if not at(0.4):
        return
    mark("Redis stopped", "Redis stopped (no persistence: queued messages lost)")
    stack.restart_redis()
    mark("Redis back", "Redis started again, empty")
    if not at(0.55):
        return
    mark("S3 down", f"S3 unreachable (its proxy stopped) for {s3_outage:g} s")
    stack.stop_s3()
    stop.wait(s3_outage)
    stack.start_s3()
    mark("S3 back", "S3 reachable again")


def _sample_cpu(stack: Stack, extra: dict[int, str], postgres: dict, locust) -> list:
    """CPU seconds of each part of the stack, once a second while locust runs."""
    samples: list[tuple[float, dict[str, float]]] = []
    while True:
        used = stack.cpu_seconds(extra)
        used["postgres"] = sum(last - first for first, last in list(postgres.values()))
        samples.append((time.time(), used))
        try:
            locust.wait(1)
            return samples
        except subprocess.TimeoutExpired:
            continue


def _cpu_per_request(samples: list, events: list[dict], since: float, until: float) -> dict:
    """CPU milliseconds per request between two moments, by part (from the nearest samples)."""
    inside = [(t, used) for t, used in samples if since <= t <= until]
    if len(inside) < 2:
        return {}
    (t0, first), (t1, last) = inside[0], inside[-1]
    served = sum(t0 <= e["t"] < t1 for e in events) or 1
    parts = {k: round((last.get(k, 0) - first.get(k, 0)) * 1000 / served, 2) for k in last}
    return parts | {"total": round(sum(parts.values()), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("LOAD_SECONDS", 60)))
    parser.add_argument("--faults", action="store_true", default=os.environ.get("FAULTS") == "1")
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOAD_USERS", 24)))
    parser.add_argument(
        "--web-workers",
        type=int,
        default=None,
        help="gunicorn workers (default: deploy/gunicorn.conf.py's sizing)",
    )
    parser.add_argument("--s3-outage", type=float, default=20)
    parser.add_argument("--verify-wait", type=float, default=300)
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--photo-patients", type=int, default=6, help="per clinic")
    parser.add_argument("--photos", type=int, default=8, help="per photo patient")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="markdown report (default var/load/report.md, or faults.md; LOAD_REPORT)",
    )
    args = parser.parse_args()
    if args.report is None:
        name = "faults.md" if args.faults else "report.md"
        args.report = Path(os.environ.get("LOAD_REPORT") or ROOT / "var" / "load" / name)

    args.report.parent.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="load-", dir=args.report.parent))
    clinics = 2
    practitioners = max(1, -(-args.users // clinics))
    stack = Stack(run_dir, web_workers=args.web_workers)
    load_before = os.getloadavg()[0]
    stop = threading.Event()
    timeline: list[dict] = []
    try:
        stack.start()
        seeded = json.loads(
            stack.script(
                "load/seed.py",
                "--clinics",
                str(clinics),
                "--practitioners",
                str(practitioners),
                "--patients",
                str(args.patients),
                "--photos",
                str(args.photos),
                "--photo-patients",
                str(args.photo_patients),
                "--images",
                str(run_dir / "images"),
            )
        )
        (run_dir / "accounts.json").write_text(json.dumps(seeded))
        images = run_dir / "images"
        events_path, uploads_path = run_dir / "requests.jsonl", run_dir / "uploads.jsonl"
        locust_env = {
            **stack.env,
            "LOAD_ACCOUNTS": str(run_dir / "accounts.json"),
            "LOAD_EVENTS": str(events_path),
            "LOAD_UPLOADS": str(uploads_path),
            "LOAD_IMAGES": str(images),
            # Under faults more of the practitioners' time goes to capture.
            "LOAD_UPLOAD_WEIGHT": "4" if args.faults else "1",
        }
        postgres = stack.watch_postgres(stop)
        start = time.time()
        faults = None
        if args.faults:
            faults = threading.Thread(
                target=_faults,
                args=(stack, start, args.seconds, args.s3_outage, timeline, stop),
                daemon=True,
            )
            faults.start()
        locust = subprocess.Popen(
            [
                str(BIN / "locust"),
                "-f",
                "load/locustfile.py",
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(max(1, args.users // 4)),
                "-t",
                f"{int(args.seconds)}s",
                "--stop-timeout",
                "30",
                "--host",
                stack.url,
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--logfile",
                str(run_dir / "locust.log"),
                "--exit-code-on-error",
                "0",
            ],
            cwd=ROOT,
            env=locust_env,
            stdout=(run_dir / "locust.out").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        samples = _sample_cpu(stack, {locust.pid: "locust"}, postgres, locust)
        stop.set()
        if faults:
            faults.join(60)
        if locust.returncode:
            raise RuntimeError(f"locust exited {locust.returncode}; see {run_dir}/locust.out")
        events = [json.loads(line) for line in events_path.read_text().splitlines() if line]
        summary = report.summarise(events, args.seconds, start)
        # CPU per request by part of the stack: what a quiet machine's cores could serve.
        # (Not with faults: a killed and restarted process takes its CPU count with it.)
        if not args.faults:
            summary["cpu_ms_per_request"] = _cpu_per_request(samples, events, start, start + 1e9)
            summary["read_mix"]["cpu_ms_per_request"] = _cpu_per_request(
                samples, events, start + summary["read_mix"]["from_s"], start + 1e9
            )
        verification = None
        if uploads_path.exists():
            verification = json.loads(
                stack.script("load/verify.py", str(uploads_path), "--wait", str(args.verify_wait))
            )
            audit = subprocess.run(
                [sys.executable, "manage.py", "verify_audit"],
                cwd=ROOT,
                env=stack.env,
                capture_output=True,
                text=True,
            )
            verification["audit_verified"] = (
                "every chain verifies"
                if audit.returncode == 0
                else (audit.stdout + audit.stderr).strip()[-300:]
            )
            verification["ok"] = verification["ok"] and audit.returncode == 0
            summary["uploads"] = {
                k: verification[k]
                for k in ("uploads", "accepted", "ready_exactly_once", "unanswered", "ok")
            } | {"refused": len(verification["refused"])}
        if timeline:
            summary["timeline"] = timeline
        setup = {
            "users": args.users,
            "web_workers": stack.web_workers(),
            "cores": os.cpu_count(),
            "load_before": f"{load_before:.1f}",
        }
        chart_path = args.report.with_suffix(".png")
        reads = summary["read_mix"]
        title = (
            f"make load{' FAULTS=1' if args.faults else ''}: {args.users} practitioners; "
            f"read mix {reads['rps']} requests/s, p50 {reads['p50_ms']:.0f} ms, "
            f"p99 {reads['p99_ms']:.0f} ms, {reads['errors']} errors"
        )
        marks = [{"at": reads["from_s"], "short": "all signed in"}, *timeline]
        report.chart(events, start, args.seconds, marks, chart_path, title)
        args.report.write_text(
            report.markdown(summary, timeline, verification, chart_path.name, setup)
        )
        summary["report"] = str(args.report)
        summary["logs"] = str(run_dir)
        print(json.dumps(summary))
        return 0 if verification is None or verification["ok"] else 1
    finally:
        stop.set()
        stack.stop()
        stack.drop_database()


if __name__ == "__main__":
    sys.exit(main())
