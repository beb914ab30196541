"""Every public link token stays out of the logs, whatever its route: the test walks the URL
map, finds each route that takes a token, and logs a request to it through gunicorn's own
access logger and Django's request logger, as the servers do."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from gunicorn.config import Config
from gunicorn.glogging import Logger

from clinic.tokens import new_token
from config.link_routes import LINK_TOKEN_ROUTES
from config.logging import install_on_server_loggers


def token_routes() -> list[tuple[str, str]]:
    """(route, URL name) of every pattern in the URL map with a parameter named like a token."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and any(
                "token" in name for name in entry.pattern.converters
            ):
                found.append((route, entry.name))

    walk(get_resolver().url_patterns, "")
    return found


def link_url(name: str, token: str) -> str:
    return reverse(name, kwargs={"clinic": "clinic-a", "token": token})


def gunicorn_access_line(tmp_path: Path, path: str, query: str = "") -> str:
    """What gunicorn's access logger writes for one GET of ``path``."""
    log_file = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(log_file))
    logger = Logger(config)
    install_on_server_loggers()
    request = SimpleNamespace(headers=[("USER-AGENT", "test")])
    response = SimpleNamespace(status="200 OK", headers=[], response_length=10, sent=10)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path + (f"?{query}" if query else ""),
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"http://testserver{path}",
    }
    try:
        logger.access(response, request, environ, timedelta(milliseconds=5))
    finally:
        for handler in logging.getLogger("gunicorn.access").handlers[:]:
            handler.close()
            logging.getLogger("gunicorn.access").removeHandler(handler)
    return log_file.read_text()


def test_the_url_map_has_link_routes_to_walk():
    names = {name for _, name in token_routes()}
    assert {"accept_invitation", "consent_sign_start", "consent_withdraw_start"} <= names
    assert "comparison_share_start" in names


@pytest.mark.parametrize("route,name", token_routes())
def test_every_link_token_is_redacted_from_the_gunicorn_access_log(tmp_path, route, name):
    token, _ = new_token()
    url = link_url(name, token)
    line = gunicorn_access_line(tmp_path, url)
    assert url.replace(token, "[redacted]") in line
    assert token not in line


@pytest.mark.parametrize("route,name", token_routes())
def test_every_link_token_is_redacted_when_it_is_the_next_page(tmp_path, route, name):
    token, _ = new_token()
    line = gunicorn_access_line(tmp_path, "/login/", f"next={quote(link_url(name, token), '')}")
    assert "[redacted]" in line
    assert token not in line


@pytest.mark.parametrize("route,name", token_routes())
def test_every_link_token_is_redacted_from_the_django_request_log(caplog, route, name):
    token, _ = new_token()
    install_on_server_loggers()
    with caplog.at_level(logging.WARNING, logger="django.request"):
        logging.getLogger("django.request").warning("Not Found: %s", link_url(name, token))
    assert caplog.records
    assert all(token not in record.getMessage() for record in caplog.records)


def test_the_url_map_and_the_logs_share_one_list_of_link_routes():
    """A new route with a token must be added to config.link_routes (and so to the
    redaction); a route in the list must be in the URL map."""
    assert sorted(route for route, _ in token_routes()) == sorted(LINK_TOKEN_ROUTES)


def test_pages_beside_the_link_routes_are_logged_as_they_are(tmp_path):
    for path in ("/p/clinic-a/photos/", "/p/clinic-a/photos-image.jpg", "/p/clinic-a/sign/"):
        assert path in gunicorn_access_line(tmp_path, path)
