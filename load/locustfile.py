"""Simulated practitioners for `make load` (locust, headless; started by load/run.py).

Each simulated user is one seeded practitioner. It signs in as a browser does (the sign-in form
with its CSRF token, then a TOTP code computed from its authenticator key), loads the page's
static files once, then, with a moment's thought between pages: searches for a patient, opens
the patient page, fetches its thumbnails four at a time (as a browser does), opens the viewer
on a photo and the next one; now and then it uploads a photo to its appointment's patient, as
guided capture does (the form's JSON answer), and polls the photo's state once.

Every request is written to LOAD_EVENTS (one JSON line: time, kind, milliseconds, status) and
every upload's answer to LOAD_UPLOADS, for load/run.py to compute figures and to check,
afterwards, that every photo the app said it saved is there exactly once.

The app runs with production settings behind what would be a TLS proxy: requests say
``X-Forwarded-Proto: https`` and the client sends the Secure cookies over loopback HTTP.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import random
import re
import sys
import time
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlsplit

import gevent.pool
from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load.totp import totp  # noqa: E402

ACCOUNTS = json.loads(Path(os.environ["LOAD_ACCOUNTS"]).read_text())
EVENTS = open(os.environ["LOAD_EVENTS"], "a", buffering=1)  # noqa: SIM115 - lives with the run
UPLOADS = open(os.environ["LOAD_UPLOADS"], "a", buffering=1)  # noqa: SIM115
IMAGES = [p.read_bytes() for p in sorted(Path(os.environ["LOAD_IMAGES"]).glob("*.jpg"))]
UPLOAD_WEIGHT = int(os.environ.get("LOAD_UPLOAD_WEIGHT", "1"))
PARALLEL_THUMBS = 4

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# A thumbnail's URL as the page gives it: with the grant of the page's one audit event.
THUMB = re.compile(r'src="(/c/[\w-]+/photos/([0-9a-f-]{36})/thumb/(?:\?grant=[^"]*)?)"')
STATIC = re.compile(r'(?:href|src)="(/static/[^"]+)"')
EPISODE_OPTION = re.compile(r'<option value="([0-9a-f-]{36})"')

_slots = itertools.count()
_roster = [
    (clinic, index)
    for index in range(max(len(c["practitioners"]) for c in ACCOUNTS["clinics"]))
    for clinic in ACCOUNTS["clinics"]
    if index < len(clinic["practitioners"])
]


# Send Secure cookies over plain HTTP: the TLS proxy in front of production is not here. (Set
# on the class: requests copies every session's cookies into a jar of its own per request.)
DefaultCookiePolicy.return_ok_secure = lambda self, cookie, request: True  # type: ignore[method-assign]


@events.request.add_listener
def _log_request(
    request_type, name, response_time, response_length, response=None, exception=None, **kwargs
) -> None:
    status = getattr(response, "status_code", 0) if response is not None else 0
    EVENTS.write(
        json.dumps(
            {
                "t": round(time.time() - response_time / 1000, 4),
                "kind": name,
                "ms": round(response_time, 2),
                "status": status,
                "ok": exception is None,
            }
        )
        + "\n"
    )


class Practitioner(HttpUser):
    wait_time = between(0.3, 1.2)

    def on_start(self) -> None:
        slot = next(_slots) % len(_roster)
        self.clinic, self.index = _roster[slot]
        self.account = self.clinic["practitioners"][self.index]
        self.slug = self.clinic["slug"]
        self.uploads = 0
        host = urlsplit(self.host or "").netloc
        self.client.headers.update({"X-Forwarded-Proto": "https", "Origin": f"https://{host}"})
        self.sign_in()

    def _token(self, html: str) -> str:
        match = CSRF_INPUT.search(html)
        return match.group(1) if match else ""

    def sign_in(self) -> None:
        page = self.client.get("/login/", name="sign_in_page")
        answer = self.client.post(
            "/login/",
            data={
                "email": self.account["email"],
                "password": ACCOUNTS["password"],
                "csrfmiddlewaretoken": self._token(page.text),
            },
            name="sign_in_password",
            allow_redirects=False,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in refused: {answer.status_code}")
        # A code is accepted once: a second sign-in in the same 30 s waits for the next code.
        for _attempt in range(3):
            page = self.client.get("/two-factor/", name="sign_in_page")
            answer = self.client.post(
                "/two-factor/",
                data={
                    "token": totp(self.account["totp_key"], time.time()),
                    "csrfmiddlewaretoken": self._token(page.text),
                },
                name="sign_in_code",
                allow_redirects=False,
            )
            if answer.status_code == 302:
                break
            time.sleep(30 - time.time() % 30 + 0.5)
        else:
            raise RuntimeError("two-factor code refused three times")
        home = self.client.get(f"/c/{self.slug}/", name="dashboard")
        for path in sorted(set(STATIC.findall(home.text))):
            self.client.get(path, name="static")  # once: a browser caches them (hashed names)

    @task(5)
    def browse(self) -> None:
        patient = random.choice(self.clinic["photo_patients"])
        self.client.get(f"/c/{self.slug}/patients/", params={"q": patient["search"]}, name="search")
        self.wait()
        page = self.client.get(f"/c/{self.slug}/patients/{patient['id']}/", name="patient_page")
        thumbs = {photo_id: html.unescape(url) for url, photo_id in THUMB.findall(page.text)}
        photos = list(thumbs)
        group = gevent.pool.Pool(PARALLEL_THUMBS)
        for url in thumbs.values():
            group.spawn(self.client.get, url, name="thumbnail")
        group.join()
        if not photos:
            return
        self.wait()
        start = random.randrange(len(photos))
        for photo_id in (photos[start], photos[(start + 1) % len(photos)]):
            self.client.get(f"/c/{self.slug}/photos/{photo_id}/", name="viewer")
            self.client.get(f"/c/{self.slug}/photos/{photo_id}/display/", name="display")

    @task(UPLOAD_WEIGHT)
    def upload(self) -> None:
        appointment = self.clinic["appointments"][self.index]
        base = f"/c/{self.slug}/patients/{appointment['id']}"
        form = self.client.get(f"{base}/photos/add/", name="upload_page")
        self.uploads += 1
        filename = f"load-{self.slug}-{self.index}-{self.uploads}.jpg"
        outcome = {"t": time.time(), "name": filename, "clinic": self.slug}
        try:
            answer = self.client.post(
                f"{base}/photos/add/",
                data={
                    "csrfmiddlewaretoken": self._token(form.text),
                    "episode": appointment["episode"],
                    "stage": random.choice(["before", "after"]),
                    "area": appointment["area"],
                    "view": "front",
                    "taken_at": "",
                    "notes": "",
                },
                files={"files": (filename, random.choice(IMAGES), "image/jpeg")},
                headers={"Accept": "application/json"},
                name="upload",
            )
        except Exception as error:  # noqa: BLE001 - recorded: the user was told nothing
            UPLOADS.write(json.dumps({**outcome, "status": 0, "error": repr(error)}) + "\n")
            return
        outcome["status"] = answer.status_code
        try:
            body = answer.json()
        except ValueError:
            body = {"problem": "", "results": [], "body": answer.text[:300]}
        results = body.get("results") or []
        outcome.update(
            saved=[r["photo_id"] for r in results if r.get("ok")],
            messages=[r.get("message", "") for r in results],
            problem=body.get("problem", ""),
            body=body.get("body", ""),
        )
        UPLOADS.write(json.dumps(outcome) + "\n")
        if outcome["saved"]:
            self.client.get(
                f"{base}/photos/status/",
                params={"ids": ",".join(outcome["saved"])},
                name="photo_status",
            )
