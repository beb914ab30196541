"""Browser journeys: headless Debian Chromium driven by Playwright against a live server.

The live server runs in a thread of the test process, against the per-worker test database.
Its requests only see committed rows, so these tests use ``committed_db`` and a clinic of their
own instead of ``transactional_db`` (whose flush the append-only audit table refuses).

Every page a journey reaches goes through ``Journey.check``: axe-core runs in the page (serious
and critical violations fail the test) and a full-page screenshot is saved under
``screenshots/<name>-<viewport>.png``. Each journey runs once at desktop and once at phone size.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test.testcases import LiveServerThread
from django.test.utils import modify_settings
from django_otp.oath import TOTP
from playwright.sync_api import Error as PlaywrightError

from clinic.models import AuthenticatorDevice

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
BLOCKING_IMPACTS = {"serious", "critical"}


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser():
    """Chromium for the browser tests of this package; closed when they are done, so the rest
    of a worker's tests run without Playwright's event loop in their thread."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (Debian package chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread; Django would then refuse the
    # ORM calls the tests make to arrange data. They are ordinary synchronous calls, so allow
    # them while the browser is open, and put the setting back afterwards.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# --- the live server ---------------------------------------------------------------------


class LiveServer:
    def __init__(self) -> None:
        # StaticFilesHandler serves /static/ from the app directories, as runserver does.
        self.thread = LiveServerThread("127.0.0.1", static_handler=StaticFilesHandler, port=0)
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error

    @property
    def url(self) -> str:
        return f"http://{self.thread.host}:{self.thread.port}"

    def stop(self) -> None:
        self.thread.terminate()


@pytest.fixture(scope="session")
def app_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """One live server for the session. pytest-django's ``live_server`` is not used because it
    pulls in ``transactional_db``, which flushes every table after each test."""
    allowed = modify_settings(ALLOWED_HOSTS={"append": "127.0.0.1"})
    allowed.enable()
    with django_db_blocker.unblock():
        server = LiveServer()
    yield server
    server.stop()
    allowed.disable()


@pytest.fixture
def server(app_server, committed_db) -> LiveServer:
    """The live server, with committed database access for the test that arranges data."""
    return app_server


# --- a page that is checked and photographed at every step ------------------------------------


def _axe_source() -> str:
    return AXE_JS.read_text()


class Journey:
    """A browser page with the helpers a journey needs. Every page it lands on is audited with
    axe once (after ``visit``, ``submit``, ``follow``, ``sign_out``); ``check`` adds a screenshot."""

    def __init__(self, page, base_url: str, viewport: str) -> None:
        self.page = page
        self.base_url = base_url
        self.viewport = viewport
        self.checked: list[str] = []
        self.audited: list[str] = []
        self.problems: list[str] = []
        # Errors a journey causes on purpose (a refused upload answers 400), as regexes.
        self.expected_errors: list[str] = []
        self._audited = False
        page.on("framenavigated", self._on_navigated)

    def _on_navigated(self, frame) -> None:
        if frame == self.page.main_frame:
            self._audited = False

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def visit(self, path: str, name: str | None = None):
        response = self.page.goto(self.url(path))
        self.check(name) if name else self.audit()
        return response

    def follow(self, locator) -> None:
        """Click a link or button that loads another page, and audit that page."""
        with self.page.expect_navigation():
            locator.click()
        self.audit()

    def axe(self) -> list[dict]:
        """Run axe-core in the page. ``page.evaluate`` goes through the DevTools protocol, so our
        CSP (script-src 'self', no inline script) stays on and still lets the audit run; an
        ``add_script_tag`` would be refused by it."""
        page = self.page
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate(_axe_source())
        return page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))})))"
        )

    def audit(self, name: str | None = None) -> None:
        """axe (serious and critical violations count) and no sideways scrolling, once per page.
        Problems are collected rather than raised at once, so one run photographs every page;
        the test fails at its end if any were found."""
        page = self.page
        page.wait_for_load_state("load")
        if self._audited:
            return
        self._audited = True
        where = f"{name or page.url} ({self.viewport}, {page.url})"
        self.audited.append(page.url)
        for v in self.axe():
            if v["impact"] in BLOCKING_IMPACTS:
                nodes = "".join(f"\n      at {node}" for node in v["nodes"][:8])
                self.problems.append(
                    f"axe [{v['impact']}] {v['id']} on {where}: {v['help']}{nodes}"
                )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 1:
            self.problems.append(f"{where} scrolls sideways by {overflow}px")

    def check(self, name: str) -> None:
        """A full-page screenshot as screenshots/<name>-<viewport>.png, and the audit."""
        page = self.page
        page.wait_for_load_state("load")
        SCREENSHOTS.mkdir(exist_ok=True)
        path = str(SCREENSHOTS / f"{name}-{self.viewport}.png")
        try:
            page.screenshot(path=path, full_page=True)
        except PlaywrightError:
            # A loaded machine sometimes fails to capture a very tall page at 2x; the picture
            # is for people to look at, so settle for the visible part rather than fail.
            page.wait_for_timeout(300)
            page.screenshot(path=path, full_page=False)
        self.checked.append(name)
        self.audit(name)

    # -- common steps --

    def submit(self, button_text: str) -> None:
        self.follow(self.page.locator("main").get_by_role("button", name=button_text, exact=True))

    def sign_in(self, email: str, password: str, name: str | None = None) -> None:
        self.visit("/login/", name)
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.submit("Continue")

    def enter_code(self, code: str, name: str | None = None) -> None:
        if name:
            self.check(name)
        self.page.get_by_label(re.compile("code", re.I)).first.fill(code)
        self.submit("Sign in")

    def sign_out(self) -> None:
        self.page.locator("details.menu summary").click()
        self.follow(self.page.get_by_role("button", name="Sign out"))


def watch_for_errors(page) -> list[str]:
    """What should never happen in any page: script and CSP errors, failed assets, a page
    served without the strict CSP. Returns the list the page's events fill."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message) -> None:
        # CSP refusals and script errors land here. A page answered 404 or 410 on purpose logs
        # "Failed to load resource"; broken assets are caught below by their own responses.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response) -> None:
        document = response.request.resource_type == "document"
        if response.status >= 400 and not document:
            errors.append(f"{response.status} {response.url}")
        # The axe audit must not be bought by loosening the policy: every page keeps its CSP.
        policy = response.headers.get("content-security-policy", "")
        if document and "script-src 'self'" not in policy:
            errors.append(f"no strict CSP on {response.url}: {policy!r}")

    page.on("console", on_console)
    page.on("response", on_response)
    return errors


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def journey(request, browser, server) -> Iterator[Journey]:
    viewport = request.param
    context = browser.new_context(base_url=server.url, locale="en-GB", **VIEWPORTS[viewport])
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = watch_for_errors(page)
    journey = Journey(page, server.url, viewport)
    yield journey
    context.close()
    errors = [e for e in errors if not any(re.search(p, e) for p in journey.expected_errors)]
    assert not errors, f"the browser reported errors: {errors}"
    assert not journey.problems, "\n".join(["pages with problems:", *journey.problems])


# --- two-factor codes ------------------------------------------------------------------------


def fresh_code(device: AuthenticatorDevice) -> str:
    """A code the device will accept now: never one at or before the last step it accepted
    (django-otp refuses reuse); a later step inside the tolerance window is accepted."""
    device.refresh_from_db()
    now = time.time()
    current = int((now - device.t0) // device.step)
    step = max(current, device.last_t + 1)
    while step > current + device.tolerance:
        time.sleep(1)
        now = time.time()
        current = int((now - device.t0) // device.step)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = device.t0 + step * device.step + 1
    return f"{totp.token():0{device.digits}d}"


def code_from_secret(secret: str) -> str:
    """The current code for a key as the setup page shows it (spaced base32, no padding)."""
    from base64 import b32decode

    raw = secret.replace(" ", "").upper()
    raw += "=" * (-len(raw) % 8)
    return f"{TOTP(b32decode(raw)).token():06d}"


def mail_links(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


def on_server(url: str, server: LiveServer) -> str:
    """A link from an e-mail (built with SITE_URL) pointed at the live server."""
    return re.sub(r"^https?://[^/]+", server.url, url)
