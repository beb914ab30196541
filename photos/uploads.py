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


# The only views that take files. Any other URL (the login page, a consent page) gets its files
# skipped unread, so an anonymous POST cannot make the server hold them.
UPLOAD_VIEWS = frozenset({"photo_upload", "clinic_settings"})


class BoundedMemoryUploadHandler(FileUploadHandler):
    """Keep each uploaded file in memory, up to the per-file and per-request limits."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.kept_in_request = 0

    def _accepts_files(self) -> bool:
        match = getattr(self.request, "resolver_match", None)
        user = getattr(self.request, "user", None)
        return bool(match and match.url_name in UPLOAD_VIEWS and user and user.is_authenticated)

    def new_file(self, *args, **kwargs) -> None:
        if not self._accepts_files():
            raise SkipFile()
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.size = 0
        self.over_limit = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > MAX_UPLOAD_BYTES or (
            self.kept_in_request + len(raw_data) > MAX_REQUEST_KEPT_BYTES
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
