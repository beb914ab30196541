"""Write SeaweedFS's S3 identities file: an admin identity and a least-privilege one for the app
(the `s3-identities` step of docker-compose; the test setup writes its own the same way).

    python deploy/s3_identities.py /identities/s3.json [--owner 1000:1000]

Reads S3_BUCKET, the admin pair S3_ADMIN_ACCESS_KEY_ID and S3_ADMIN_SECRET_ACCESS_KEY, and the
app's pair S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (each secret may instead be a file named by
NAME_FILE). The admin identity may do everything; only `s3-init` signs with it, to make the bucket.
The app identity (web, worker, beat) may read, write and list objects in S3_BUCKET and nothing
else: no other bucket, no creating or deleting buckets, no ACL or policy changes. With a file
given to `weed server -s3.config`, SeaweedFS refuses anonymous requests and any other key.

The file is written whole (a temporary file renamed over it), readable by its owner only: with
--owner, that is the given user (SeaweedFS's image runs `weed` as its user seaweed, 1000:1000).
Exit 0 when written, 1 with a message when a value is missing or the two identities share a key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ADMIN_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
# What the app does with its bucket: put, get, head, copy, list and delete objects.
APP_ACTIONS = ("Read", "Write", "List")


class IdentityError(Exception):
    pass


def _env_secret(name: str) -> str:
    path = os.environ.get(f"{name}_FILE", "")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, "")


def app_actions(bucket: str) -> list[str]:
    return [f"{action}:{bucket}" for action in APP_ACTIONS]


def identities(bucket: str, admin: tuple[str, str], app: tuple[str, str]) -> dict:
    """SeaweedFS's S3 configuration for the two identities, each a (key id, secret) pair."""
    if not bucket:
        raise IdentityError("S3_BUCKET is empty")
    for who, (key, secret) in (("admin", admin), ("app", app)):
        if not key or not secret:
            raise IdentityError(f"the {who} identity needs both a key id and a secret")
    if admin[0] == app[0]:
        raise IdentityError("the app's key id is the admin's: give the app a key pair of its own")
    if admin[1] == app[1]:
        raise IdentityError("the app's secret is the admin's: give the app a secret of its own")
    return {
        "identities": [
            {
                "name": "clinic-admin",
                "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
                "actions": ADMIN_ACTIONS,
            },
            {
                "name": "clinic-app",
                "credentials": [{"accessKey": app[0], "secretKey": app[1]}],
                "actions": app_actions(bucket),
            },
        ]
    }


def write(path: Path, config: dict, owner: tuple[int, int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".s3-identities-")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp: mode 0600
            json.dump(config, handle, indent=2)
        if owner is not None:
            os.chown(temporary, *owner)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _owner(text: str) -> tuple[int, int]:
    user, _, group = text.partition(":")
    return int(user), int(group or user)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write SeaweedFS's S3 identities file.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--owner", type=_owner, help="UID:GID to own the file (needs CAP_CHOWN)")
    args = parser.parse_args(argv[1:])
    names = (
        "S3_ADMIN_ACCESS_KEY_ID",
        "S3_ADMIN_SECRET_ACCESS_KEY",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
    )
    values = {name: _env_secret(name) for name in names}
    values["S3_BUCKET"] = os.environ.get("S3_BUCKET", "")
    missing = [name for name, value in values.items() if not value]
    if missing:
        print(f"s3-identities: {', '.join(missing)} must be set", file=sys.stderr)
        return 1
    try:
        config = identities(
            values["S3_BUCKET"],
            admin=(values["S3_ADMIN_ACCESS_KEY_ID"], values["S3_ADMIN_SECRET_ACCESS_KEY"]),
            app=(values["S3_ACCESS_KEY_ID"], values["S3_SECRET_ACCESS_KEY"]),
        )
    except IdentityError as error:
        print(f"s3-identities: {error}", file=sys.stderr)
        return 1
    write(args.path, config, owner=args.owner)
    bucket = values["S3_BUCKET"]
    print(f"s3-identities: {args.path} written (clinic-admin; clinic-app on {bucket} only)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
