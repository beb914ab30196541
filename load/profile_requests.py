"""Where a request's time goes: the load run's stack, one signed-in practitioner, cProfile.

``python load/profile_requests.py [KIND ...]`` starts the stack as `make load` does (a small
seed), signs in through the real forms with Django's test client, then runs each kind of
request (thumbnail, patient_page, search, viewer, display, static) ``--repeat`` times in this
process under cProfile and prints the mean time, the SQL queries per request and the top functions.
Not part of `make load`; a tool for when its figures disappoint.
"""

from __future__ import annotations

import argparse
import cProfile
import html
import io
import json
import os
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load.stack import Stack  # noqa: E402
from load.totp import totp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kinds", nargs="*", default=["thumbnail", "patient_page", "search"])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumulative")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="load-profile-"))
    stack = Stack(logs)
    try:
        stack.start()
        seeded = json.loads(
            stack.script(
                "load/seed.py",
                "--clinics",
                "1",
                "--practitioners",
                "1",
                "--patients",
                "200",
                "--photo-patients",
                "1",
                "--photos",
                "8",
            )
        )
        os.environ.update(stack.env)
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        from django.db import connection
        from django.test import Client

        clinic = seeded["clinics"][0]
        account = clinic["practitioners"][0]
        client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="127.0.0.1")
        client.post("/login/", {"email": account["email"], "password": seeded["password"]})
        answer = client.post("/two-factor/", {"token": totp(account["totp_key"], time.time())})
        assert answer.status_code == 302, answer.status_code
        slug, patient = clinic["slug"], clinic["photo_patients"][0]
        page = client.get(f"/c/{slug}/patients/{patient['id']}/").content.decode()
        thumbs = re.findall(r'src="(/c/[\w-]+/photos/([0-9a-f-]{36})/thumb/[^"]*)"', page)
        photos = [photo_id for _url, photo_id in thumbs]
        statics = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
        paths = {
            "thumbnail": html.unescape(thumbs[0][0]),  # with the page's grant, as a browser
            "display": f"/c/{slug}/photos/{photos[0]}/display/",
            "viewer": f"/c/{slug}/photos/{photos[0]}/",
            "patient_page": f"/c/{slug}/patients/{patient['id']}/",
            "search": f"/c/{slug}/patients/?q={patient['search']}",
            "dashboard": f"/c/{slug}/",
            "static": statics[0] if statics else "/static/css/app.css",
        }
        for kind in args.kinds:
            path = paths[kind]
            client.get(path)
            queries: list[str] = []

            def log(execute, sql, params, many, context, queries=queries):
                queries.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(log):
                client.get(path)
            profiler = cProfile.Profile()
            started, cpu = time.perf_counter(), time.process_time()
            profiler.enable()
            for _ in range(args.repeat):
                status = client.get(path).status_code
            profiler.disable()
            mean = (time.perf_counter() - started) / args.repeat * 1000
            cpu_ms = (time.process_time() - cpu) / args.repeat * 1000
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(args.sort).print_stats(args.top)
            print(
                f"== {kind} {path}: {mean:.1f} ms ({cpu_ms:.1f} ms CPU, profiled), "
                f"status {status}, {len(queries)} queries"
            )
            for query in queries:
                print("   ", query[:200])
            print(out.getvalue())
    finally:
        stack.stop()
        stack.drop_database()


if __name__ == "__main__":
    main()
