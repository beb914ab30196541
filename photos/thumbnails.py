"""Granted thumbnails answered from memory, before sessions and memberships are read.

A patient page records the thumbnails it shows in one event (``services.thumbnails_shown``)
and hands each thumbnail URL a grant: signed, naming the event, the photo, the member, when it
was issued and a tag of the browser session it was made for. The first request for a granted
thumbnail takes the ordinary path (session, 2FA, membership, the photo row under RLS), which
then remembers the photo's thumbnail blob here. Later requests with a grant are answered by
``GrantedThumbnailMiddleware`` from this process's memory when all of these hold:

- the grant verifies, is unexpired and names this photo;
- it was made for the session whose cookie came with the request;
- neither its clinic nor its member has been revoked since it was issued (clinic.revocation:
  a deletion, shredding, a membership or account change, a sign-out);
- the photo was remembered for this clinic's URL, and the clinic key and the ciphertext are
  in this process's caches (vault.storage.blob_read_from_memory), and the bytes authenticate.

Anything else, or any doubt, goes the ordinary way. What is not re-checked from memory is the
session's time-out: a grant lives ten minutes, so a page's thumbnails stay viewable from
memory at most that long after the session that drew the page timed out (a sign-out, by
contrast, ends them at once). At 200 thumbnails a page, the ordinary
path's five queries a thumbnail were most of what a practitioner's browsing cost the server.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings
from django.core import signing
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.crypto import constant_time_compare, salted_hmac

from clinic import revocation
from clinic.responses import file_response
from photos.models import Photo
from vault.models import Blob
from vault.storage import blob_read_from_memory

GRANT_SALT = "photos.thumbnail-grant"
GRANT_SECONDS = 600
SESSION_TAG_SALT = "photos.thumbnail-session"


def session_tag(session_key: str | None) -> str:
    """A short keyed digest of a session key (the key itself never goes into a URL)."""
    if not session_key:
        return ""
    return salted_hmac(SESSION_TAG_SALT, session_key).hexdigest()[:24]


def make_grant(*, seq: int, photo_id, user_id, session_key: str | None) -> str:
    """One thumbnail's grant (call ``clinic.revocation.started()`` once before a page's)."""
    return signing.TimestampSigner(salt=GRANT_SALT).sign(
        f"{seq}:{photo_id}:{user_id}:{session_tag(session_key)}:{time.time():.3f}"
    )


def read_grant(grant: str) -> tuple[int, str, str, str, float] | None:
    """(seq, photo id, user id, session tag, issued at) of a valid, unexpired grant."""
    if not grant or len(grant) > 300:
        return None
    try:
        value = signing.TimestampSigner(salt=GRANT_SALT).unsign(grant, max_age=GRANT_SECONDS)
    except signing.BadSignature:
        return None
    parts = value.split(":")
    if len(parts) != 5:
        return None
    seq, photo_id, user_id, tag, issued = parts
    return int(seq), photo_id, user_id, tag, float(issued)


def image_response(data: bytes, content_type: str = "image/jpeg") -> HttpResponse:
    """A decrypted photo file as the photo views answer it (``clinic.responses``)."""
    return file_response(data, content_type)


class _Remembered:
    """Photo id -> (clinic slug, clinic id, thumbnail blob), least recently used out first."""

    LIMIT = 20_000

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[str, uuid.UUID, Blob]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, clinic_slug: str, photo: Photo) -> None:
        if photo.thumb is None:
            return
        with self._lock:
            self._items[str(photo.pk)] = (clinic_slug, photo.clinic_id, photo.thumb)
            self._items.move_to_end(str(photo.pk))
            while len(self._items) > self.LIMIT:
                self._items.popitem(last=False)

    def get(self, photo_id: str) -> tuple[str, uuid.UUID, Blob] | None:
        with self._lock:
            return self._items.get(photo_id)

    def forget(self, photo_id) -> None:
        with self._lock:
            self._items.pop(str(photo_id), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


remembered = _Remembered()


def served_from_memory(request: HttpRequest, clinic_slug: str, photo_id: str) -> bytes | None:
    """The thumbnail's bytes if every condition in this module's docstring holds, else None."""
    granted = read_grant(request.GET.get("grant", ""))
    if granted is None:
        return None
    _, granted_photo, user_id, tag, issued = granted
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if granted_photo != photo_id or not tag or not constant_time_compare(tag, session_tag(cookie)):
        return None
    entry = remembered.get(photo_id)
    if entry is None or entry[0] != clinic_slug:
        return None
    _, clinic_id, blob = entry
    scopes = revocation.clinic_scope(clinic_id), revocation.user_scope(user_id)
    if revocation.revoked_since(issued, *scopes):
        return None
    return blob_read_from_memory(blob)


class GrantedThumbnailMiddleware:
    """Answers a granted thumbnail from memory (see the module docstring); placed before the
    session middleware in settings.MIDDLEWARE. Every other request passes through untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.THUMBNAILS_FROM_MEMORY:
            raise MiddlewareNotUsed("THUMBNAILS_FROM_MEMORY is off")
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and "grant" in request.GET:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.url_name == "photo_thumb":
                data = served_from_memory(
                    request, match.kwargs["clinic_slug"], str(match.kwargs["photo_id"])
                )
                if data is not None:
                    return image_response(data)
        return self.get_response(request)
