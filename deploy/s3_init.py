"""Make the app's S3 bucket, private, before the app starts (the `s3-init` step of docker-compose).

    python deploy/s3_init.py

Reads the app's own variables: S3_BUCKET, S3_ENDPOINT_URL, S3_REGION, S3_ACCESS_KEY_ID and
S3_SECRET_ACCESS_KEY (each secret may instead be a file named by NAME_FILE; docker-compose gives
it the admin identity's pair there, the app's may not create buckets), and waits up to
S3_INIT_TIMEOUT seconds (120) for the server to answer. Safe to run any number of times: it
creates the bucket only when missing, blocks public access where the server supports it, resets
public ACL grants, refuses a bucket policy that allows anyone, and finally proves that an
anonymous request cannot read an object. Exit 0 when the bucket is ready and private, 1 with a
message otherwise. Needs only boto3, so it runs from the app image.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
# Answers of a server that lacks an optional call (SeaweedFS, Garage and moto each lack some).
UNSUPPORTED = {"NotImplemented", "MethodNotAllowed", "501", "405", "AccessControlListNotSupported"}


class InitError(Exception):
    pass


def _env_secret(name: str) -> str:
    path = os.environ.get(f"{name}_FILE", "")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, "")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _clients(endpoint: str | None, region: str, key: str, secret: str):
    config = Config(
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=30,
    )
    signed = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config,
    )
    anonymous = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=config.merge(Config(signature_version=UNSIGNED)),
    )
    return signed, anonymous


def bucket_exists(client, bucket: str, timeout: float) -> bool:
    """Whether the bucket is there, waiting up to ``timeout`` seconds for the server to answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.head_bucket(Bucket=bucket)
            return True
        except ClientError as error:
            status = _status(error)
            if status == 404:
                return False
            if status == 403:
                raise InitError(
                    f"bucket {bucket}: access denied. Either the credentials are wrong or the "
                    "name belongs to someone else (S3 bucket names are global on AWS)."
                ) from error
            if status < 500 or time.monotonic() > deadline:
                raise InitError(f"bucket {bucket}: the S3 server answered {error}") from error
        except BotoCoreError as error:  # not reachable yet
            if time.monotonic() > deadline:
                raise InitError(
                    f"the S3 server did not answer within {timeout:.0f}s: {error}"
                ) from error
        time.sleep(2)


def create_bucket(client, bucket: str, region: str) -> None:
    params: dict = {"Bucket": bucket}
    if region and region != "us-east-1":  # AWS refuses an explicit us-east-1 constraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**params)
    except ClientError as error:
        if _code(error) != "BucketAlreadyOwnedByYou":  # another init won the race
            raise


def block_public_access(client, bucket: str) -> bool:
    """Turn on all four public-access blocks; False when the server has no such setting."""
    try:
        client.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        return True
    except ClientError as error:
        if _code(error) in UNSUPPORTED:
            return False
        raise


def public_grants(client, bucket: str) -> list[dict] | None:
    """The bucket ACL's grants to everyone or to any signed-in AWS user (None: no ACLs)."""
    try:
        grants = client.get_bucket_acl(Bucket=bucket).get("Grants", [])
    except ClientError as error:
        if _code(error) in UNSUPPORTED:
            return None
        raise
    return [g for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GROUPS]


def make_acl_private(client, bucket: str) -> None:
    grants = public_grants(client, bucket)
    if not grants:
        return
    client.put_bucket_acl(Bucket=bucket, ACL="private")
    if public_grants(client, bucket):
        raise InitError(f"bucket {bucket}: its ACL still grants public access after a reset")


def check_policy(client, bucket: str) -> None:
    """Refuse a bucket policy that allows anyone; an operator's Deny statements are kept."""
    try:
        text = client.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as error:
        if _code(error) in UNSUPPORTED | {"NoSuchBucketPolicy"} or _status(error) == 404:
            return
        raise
    statements = json.loads(text).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        principal = statement.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))
        )
        if statement.get("Effect") == "Allow" and anyone:
            raise InitError(
                f"bucket {bucket}: its policy allows anyone ({statement.get('Action')}); "
                "remove that statement, the app's bucket must be private"
            )


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def check_anonymous_read_refused(client, anonymous, bucket: str) -> None:
    """Store a throw-away probe object and prove that an unsigned GET of it is refused."""
    key = f"s3-init-probe-{secrets.token_hex(8)}"
    client.put_object(Bucket=bucket, Key=key, Body=secrets.token_bytes(16), ACL="private")
    try:
        try:
            anonymous.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _status(error) in (401, 403):
                return
            raise
        raise InitError(
            f"bucket {bucket}: an anonymous request could read an object. The S3 server runs "
            "without identities (start SeaweedFS with -s3.config, the file "
            "deploy/s3_identities.py writes) or the bucket is public."
        )
    finally:
        client.delete_object(Bucket=bucket, Key=key)


def main() -> int:
    bucket = os.environ.get("S3_BUCKET", "")
    key = _env_secret("S3_ACCESS_KEY_ID")
    secret = _env_secret("S3_SECRET_ACCESS_KEY")
    if not (bucket and key and secret):
        print(
            "s3-init: S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set",
            file=sys.stderr,
        )
        return 1
    endpoint = os.environ.get("S3_ENDPOINT_URL", "") or None
    region = os.environ.get("S3_REGION", "") or "eu-west-2"
    timeout = float(os.environ.get("S3_INIT_TIMEOUT", "120"))
    client, anonymous = _clients(endpoint, region, key, secret)
    try:
        if bucket_exists(client, bucket, timeout):
            state = "already there"
        else:
            create_bucket(client, bucket, region)
            state = "created"
        blocked = block_public_access(client, bucket)
        make_acl_private(client, bucket)
        check_policy(client, bucket)
        check_anonymous_read_refused(client, anonymous, bucket)
    except InitError as error:
        print(f"s3-init: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"s3-init: bucket {bucket}: {error}", file=sys.stderr)
        return 1
    extra = "public access blocked, " if blocked else ""
    print(
        f"s3-init: bucket {bucket} {state}; private ({extra}no public grant or policy, "
        "anonymous reads refused)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
