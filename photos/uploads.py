"""Uploads are held in memory only: Django's default spools files over 2.5 MB to a temporary
file, which for a photo would be plaintext on disk until we encrypt it.

Memory stays bounded: past ``MAX_UPLOAD_BYTES`` a file's remaining bytes are counted but not
kept (so the view can refuse it by its real size), and a request keeps at most
``MAX_REQUEST_KEPT_BYTES`` across all its files.
"""

from __future__ import annotations

import io

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from photos.imaging import MAX_UPLOAD_BYTES

MAX_REQUEST_KEPT_BYTES = 5 * MAX_UPLOAD_BYTES
# An evidence bundle sent back for checking holds the plaintext photos too: memory only, larger.
MAX_BUNDLE_CHECK_BYTES = 200 * 1024 * 1024


# The only views that take files, with each one's limit per file. Any other URL (the login
# page, a consent page) gets its files skipped unread, so an anonymous POST cannot make the
# server hold them.
UPLOAD_LIMITS = {
    "photo_upload": MAX_UPLOAD_BYTES,
    "clinic_settings": MAX_UPLOAD_BYTES,
    "export_bundle_check": MAX_BUNDLE_CHECK_BYTES,
}
UPLOAD_VIEWS = frozenset(UPLOAD_LIMITS)


class BoundedMemoryUploadHandler(FileUploadHandler):
    """Keep each uploaded file in memory, up to the per-file and per-request limits."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.kept_in_request = 0

    def _limit(self) -> int:
        """This view's limit per file, or 0 when it takes no files (or the user is anonymous)."""
        match = getattr(self.request, "resolver_match", None)
        user = getattr(self.request, "user", None)
        if not (match and user and user.is_authenticated):
            return 0
        return UPLOAD_LIMITS.get(match.url_name, 0)

    def new_file(self, *args, **kwargs) -> None:
        self.limit = self._limit()
        if not self.limit:
            raise SkipFile()
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.size = 0
        self.over_limit = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > self.limit or (
            self.kept_in_request + len(raw_data) > max(MAX_REQUEST_KEPT_BYTES, self.limit)
        ):
            self.over_limit = True
        if not self.over_limit:
            self.buffer.write(raw_data)
            self.kept_in_request += len(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        upload = InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self.size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
        # A file cut short here must be refused, never read as if whole.
        upload.over_limit = self.over_limit  # type: ignore[attr-defined]  # read by the view
        return upload
