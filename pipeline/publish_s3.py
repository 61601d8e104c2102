"""The ``s3`` destination of ``pipeline publish``: any S3-compatible store
(AWS S3, Cloudflare R2, MinIO, Ceph) through boto3.

The bucket, prefix, endpoint and region come from ``publish.yaml``; the
credentials only from boto3's standard chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and ``~/.aws/``, an instance
role), and no message ever repeats them.

Each object carries its ``Content-Type``, a ``Content-Disposition`` with
its file name, a ``Cache-Control`` (a year and ``immutable`` for an
edition's files, five minutes for the pages, ``latest/`` and the stable
link), its SHA-256 as metadata, and a SHA-256 checksum the store verifies
on receipt (``ChecksumAlgorithm=SHA256``). An edition's files are written
with ``If-None-Match: *``, so a store that supports conditional writes
refuses to replace one even when two publishes race; its ``manifest.json``
goes last, so an edition whose manifest is there is whole. After the
publish every object written is downloaded again and its SHA-256 compared
(``read_back``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json

from pipeline.errors import BuildError

LATEST = "latest"

#: what the object's metadata calls its SHA-256 (x-amz-meta-sha256)
META_SHA256 = "sha256"


class S3Site:
    kind = "s3"

    def __init__(self, dest):
        import boto3
        from botocore.config import Config as BotoConfig

        self.dest = dest
        self.bucket = dest.bucket
        self.prefix = dest.prefix or ""
        session = boto3.session.Session()
        self.client = session.client(
            "s3", endpoint_url=dest.endpoint_url, region_name=dest.region or session.region_name or "us-east-1",
            config=BotoConfig(s3={"addressing_style": "path"} if dest.endpoint_url else {},
                              retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60))

    def describe(self) -> str:
        where = f" at {self.dest.endpoint_url}" if self.dest.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def address(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    @contextlib.contextmanager
    def session(self, dry_run: bool = False):
        with _errors(self):
            self.client.head_bucket(Bucket=self.bucket)
            if self.dest.retention_days:
                self._check_object_lock()
            yield

    def _check_object_lock(self) -> None:
        from botocore.exceptions import ClientError

        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket).get("ObjectLockConfiguration", {})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                raise
            conf = {}
        if conf.get("ObjectLockEnabled") != "Enabled":
            raise BuildError(f"the bucket '{self.bucket}' has no Object Lock, so retention_days "
                             f"({self.dest.retention_days}) cannot lock the editions' files; nothing was published\n"
                             f"  hint: Object Lock is chosen when a bucket is made: make one with it, or remove "
                             f"retention_days from the destination '{self.dest.name}' in publish.yaml")

    # -------------------------------------------------------------- reading

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def existing(self, key: str) -> str | None:
        """The SHA-256 of the object under ``key`` (from its metadata, or
        read when it has none), or None when there is none."""
        head = self._head(key)
        if head is None:
            return None
        digest = (head.get("Metadata") or {}).get(META_SHA256)
        return digest if digest else self.read_back(key)

    def read_back(self, key: str) -> str | None:
        """Download the object and hash what arrives."""
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        h = hashlib.sha256()
        for chunk in iter(lambda: body.read(1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def list_keys(self, under: str = "") -> set[str]:
        """Every object's key under the prefix (and ``under`` in it)."""
        out = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self.prefix + under):
            for obj in page.get("Contents", []):
                out.add(obj["Key"][len(self.prefix):])
        return out

    def latest(self, slug: str) -> str | None:
        try:
            return json.loads(self.read(f"{slug}/latest/manifest.json")).get("version")
        except Exception:  # nothing there yet, or not a manifest: latest/ is rewritten
            return None

    # -------------------------------------------------------------- writing

    def _put(self, f, key: str | None = None, immutable: bool | None = None) -> None:
        from botocore.exceptions import ClientError

        key = key or f.key
        immutable = f.immutable if immutable is None else immutable
        data = f.bytes()
        args = {
            "Bucket": self.bucket, "Key": self.prefix + key, "Body": data,
            "ContentType": f.content_type,
            "CacheControl": "public, max-age=31536000, immutable" if immutable else "public, max-age=300",
            "Metadata": {META_SHA256: f.sha256},
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(f.sha256)).decode("ascii"),
        }
        if f.download:
            args["ContentDisposition"] = f'inline; filename="{f.download}"'
        if immutable:
            args["IfNoneMatch"] = "*"  # never over a published file, even in a race
            if self.dest.retention_days:  # the store itself refuses to delete or replace it until then
                args["ObjectLockMode"] = self.dest.retention_mode.upper()
                args["ObjectLockRetainUntilDate"] = (dt.datetime.now(dt.timezone.utc)
                                                     + dt.timedelta(days=self.dest.retention_days))
        try:
            self.client.put_object(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                if self.existing(key) == f.sha256:
                    return  # the same bytes, written meanwhile
                from pipeline.publish import Conflict

                raise Conflict(f"{self.address(key)} was published meanwhile with other bytes; a published edition "
                               f"is never changed") from None
            raise

    def put_edition(self, slug: str, version: str, files: list) -> None:
        # the manifest last: an edition whose manifest is there is whole
        for f in sorted(files, key=lambda f: f.key.endswith("/manifest.json")):
            with _errors(self):
                self._put(f)

    def put(self, f) -> None:
        with _errors(self):
            self._put(f)

    def put_all(self, files: list) -> None:
        for f in files:
            self.put(f)

    def set_latest(self, slug: str, version: str, files: list) -> bool:
        """``<slug>/latest/``: the newest edition's files, copied (its
        manifest last); then what an older latest held besides is removed.
        False when it already was exactly that: a publish stopped between
        the copies and the removal leaves the removal to the next."""
        wanted = {f.key.rsplit("/", 1)[-1]: f for f in files}
        base = f"{slug}/{LATEST}/"
        with _errors(self):
            listed = {k[len(base):] for k in self.list_keys(base)}
            manifest = wanted["manifest.json"]
            if listed == set(wanted) and self.existing(base + "manifest.json") == manifest.sha256:
                return False
            for name, f in sorted(wanted.items(), key=lambda kv: kv[0] == "manifest.json"):
                if name not in listed or self.existing(base + name) != f.sha256:
                    self._put(f, key=base + name, immutable=False)
            stale = [{"Key": self.prefix + base + name} for name in sorted(listed - set(wanted))]
            for i in range(0, len(stale), 1000):
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": stale[i:i + 1000], "Quiet": True})
        return True


@contextlib.contextmanager
def _errors(site: S3Site):
    """boto3's failures as one message that says what to do; never a
    credential."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise BuildError(f"no AWS credentials for {site.describe()}\n  hint: set AWS_ACCESS_KEY_ID and "
                         f"AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, with ~/.aws/credentials) in the environment; "
                         f"credentials never go in publish.yaml") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", "")
        hint = {"NoSuchBucket": "create the bucket, or correct 'bucket' in publish.yaml",
                "404": "create the bucket, or correct 'bucket' in publish.yaml",
                "403": "the credentials in the environment may not use this bucket",
                "AccessDenied": "the credentials in the environment may not use this bucket",
                "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID / the profile in the environment",
                "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY / the profile in the environment",
                }.get(code, "check the destination in publish.yaml and the credentials in the environment")
        if code in ("404", "NoSuchBucket") and exc.operation_name in ("HeadBucket", "PutObject", "ListObjectsV2"):
            raise BuildError(f"the bucket '{site.bucket}' does not exist ({site.describe()}); nothing was published\n"
                             f"  hint: {hint}") from None
        raise BuildError(f"{site.describe()}: {exc.operation_name} failed: {code}"
                         f"{': ' + message if message else ''}\n  hint: {hint}") from None
    except BotoCoreError as exc:
        raise BuildError(f"{site.describe()}: {type(exc).__name__}: {exc}\n"
                         f"  hint: check endpoint_url and region in publish.yaml, and the network") from None
