"""A clinic's first day in production: the operator runs `manage.py create_clinic` on the
production settings, the invitation leaves through a real SMTP server in the clinic's name,
and the invited admin joins, sets up two-factor sign-in, signs in again and sets the clinic's
reply-to address, all in Chromium over HTTPS through Caddy (tests/https_stack.py).

Chromium trusts the stack's certificate by its key (``--ignore-certificate-errors-spki-list``)
and nothing else: a page that did not come over that certificate would fail to load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.utils import parseaddr

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from clinic.models import AuthenticatorDevice, Clinic
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORTS,
    Journey,
    code_from_secret,
    fresh_code,
    watch_for_errors,
)
from tests.https_stack import HttpsStack
from tests.smtp import SmtpServer, body_text, running_smtp_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORD = "a-long-clinic-pass-42"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def https_stack(django_db_setup, test_db_name, s3_server, smtp, tmp_path_factory):
    stack = HttpsStack(
        tmp_path_factory.mktemp("https-journey"),
        db_name=test_db_name,
        s3_server=s3_server,
        email_url=smtp.url,
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def https_browser(browser, https_stack):
    """Chromium that trusts the stack's certificate (its key), from the package's Playwright."""
    trusting = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            f"--ignore-certificate-errors-spki-list={https_stack.certificates.spki}",
        ],
    )
    yield trusting
    trusting.close()


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def journey(request, https_browser, https_stack, committed_db) -> Iterator[Journey]:
    viewport = request.param
    context = https_browser.new_context(
        base_url=https_stack.url, locale="en-GB", **VIEWPORTS[viewport]
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = watch_for_errors(page)
    journey = Journey(page, https_stack.url, viewport)
    yield journey
    context.close()
    assert not errors, f"the browser reported errors: {errors}"
    assert not journey.problems, "\n".join(["pages with problems:", *journey.problems])


def test_the_first_admin_of_a_new_clinic_joins_over_https(journey, https_stack, smtp):
    j, page = journey, journey.page
    name = f"Harbour Aesthetics {f.unique('')}"
    admin = f"{f.unique('nadia')}@harbour.example"

    # The operator: `docker compose run --rm web python manage.py create_clinic ...`.
    made = https_stack.manage("create_clinic", "--name", name, "--admin-email", admin)
    assert made.returncode == 0, made.stderr
    assert f"Invited {admin} as its first admin" in made.stdout
    clinic = Clinic.objects.get(name=name)

    # The invitation came through SMTP, in the clinic's name, with an HTTPS link.
    message = smtp.inbox.wait_for(admin)
    assert parseaddr(message["From"])[0] == name
    (link,) = re.findall(r"https://localhost:\d+/invite/\S+", body_text(message))
    assert link.startswith(https_stack.url)

    j.visit(link)
    expect(page.get_by_role("heading", name=f"Join {name}")).to_be_visible()
    j.check("https-accept-invitation")
    page.locator("#id_full_name").fill("Nadia Nurse")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password_again").fill(PASSWORD)
    j.submit("Create my account")
    expect(page).to_have_url(re.compile(r"/two-factor/setup/$"))
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("6-digit code shown in your app").fill(code_from_secret(secret))
    j.submit("Confirm and continue")
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    j.follow(page.get_by_role("link", name="I have saved them, continue"))
    expect(page).to_have_url(f"{https_stack.url}/c/{clinic.slug}/")

    # Cookies only ever travel over HTTPS, and the session's is out of scripts' reach.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sessionid"]["secure"] and cookies["sessionid"]["httpOnly"]
    assert cookies["csrftoken"]["secure"]

    # Sign in again with the password and the next code.
    j.sign_out()
    j.sign_in(admin, PASSWORD, name="https-login")
    device = AuthenticatorDevice.objects.get(user__email=admin, confirmed=True)
    j.enter_code(fresh_code(device))
    expect(page).to_have_url(f"{https_stack.url}/c/{clinic.slug}/")

    # The admin gives the clinic the address patients' answers should reach.
    j.visit(f"/c/{clinic.slug}/settings/")
    page.get_by_label("Reply-to e-mail").fill("reception@harbour.example")
    j.submit("Save")
    expect(page.get_by_text("Clinic settings saved.")).to_be_visible()
    expect(page.get_by_label("Reply-to e-mail")).to_have_value("reception@harbour.example")
    j.check("https-clinic-settings")
    clinic.refresh_from_db()
    assert clinic.reply_to_email == "reception@harbour.example"

    # The trail names the browser's own address, told by Caddy, never the proxy's guess.
    with clinic_context(clinic.id):
        actions = list(
            AuditEvent.objects.filter(clinic=clinic).order_by("seq").values_list("action", "ip")
        )
    assert actions[:2] == [("clinic.created", None), ("staff.invited", None)]
    assert ("auth.login", "127.0.0.1") in actions
