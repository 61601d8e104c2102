"""Issue 15: `pipeline publish` to an S3-compatible store, tested against
a real S3 HTTP server on 127.0.0.1 (moto's server mode, started here as a
process of its own and stopped afterwards), reached by boto3 over HTTP as
in production: nothing is patched. Every object is read back with its
headers; the site is read over plain HTTP as a reader would."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conftest import ROOT

SLUG = "sample-report"
BUCKET = "reports"
KEY_ID = "AKIAPUBLISHTESTKEY01"
SECRET = "pUbLiSh/TeSt/SeCrEt+dOnOtPrInT0123456789"
REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A real S3 server (moto's server mode) on a free port of 127.0.0.1,
    with a bucket; credentials only in the environment."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        with pytest.MonkeyPatch.context() as mp:
            for name in list(os.environ):
                if name.startswith("AWS_"):
                    mp.delenv(name)
            mp.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
            mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
            mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
            client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            # readers read anonymously, as from a public bucket (the bucket's owner decides that, not publish)
            client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
            yield endpoint, client
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def write_config(where: Path, endpoint: str, prefix: str, bucket: str = BUCKET) -> Path:
    config = where / f"publish-{prefix.strip('/') or 'root'}.yaml"
    config.write_text("title: Field reports\ndestinations:\n  store:\n    type: s3\n"
                      f"    bucket: {bucket}\n    prefix: {prefix}\n    endpoint_url: {endpoint}\n"
                      f"    region: {REGION}\n", "utf-8")
    return config


def run_publish(archive: Path, config: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "publish", "--archive", str(archive),
                           "--config", str(config)], capture_output=True, text=True, timeout=300,
                          env={**(env if env is not None else os.environ), "PYTHONPATH": str(ROOT)})


def objects(client, prefix: str) -> dict[str, str]:
    """key -> ETag of every object under ``prefix``."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["ETag"]
    return out


@pytest.fixture(scope="module")
def published(s3, released_archive, tmp_path_factory):
    """The archive published once under the prefix site/; the run's output."""
    endpoint, _ = s3
    config = write_config(tmp_path_factory.mktemp("s3config"), endpoint, "site/")
    proc = run_publish(released_archive, config)
    assert proc.returncode == 0, proc.stderr
    return config, proc


def manifests(archive: Path) -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(archive.glob("*/*/manifest.json"))]


def test_every_object_has_its_bytes_type_name_cache_lifetime_and_checksum(s3, published, released_archive):
    _, client = s3
    types = {".pdf": "application/pdf", ".epub": "application/epub+zip", ".html": "text/html; charset=utf-8",
             ".gz": "application/gzip", ".json": "application/json"}
    for m in manifests(released_archive):
        for f in [*m["files"], {"name": "manifest.json"}, {"name": "SHA256SUMS"}]:
            key = f"site/{m['slug']}/{m['version']}/{f['name']}"
            obj = client.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
            data = obj["Body"].read()
            digest = hashlib.sha256(data).hexdigest()
            if "sha256" in f:
                assert digest == f["sha256"] and len(data) == f["size"], key
            assert obj["ContentType"] == types.get(Path(f["name"]).suffix, "text/plain; charset=utf-8"), key
            assert obj["ContentDisposition"] == f'inline; filename="{f["name"]}"'
            assert obj["CacheControl"] == "public, max-age=31536000, immutable"
            assert obj["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()
            assert obj["Metadata"]["sha256"] == digest
    for key, kind in (("site/index.html", "text/html; charset=utf-8"), ("site/feed.xml", "application/atom+xml; charset=utf-8"),
                      (f"site/{SLUG}/index.html", "text/html; charset=utf-8"), (f"site/{SLUG}/{SLUG}.pdf", "application/pdf"),
                      (f"site/{SLUG}/CITATION.cff", "text/plain; charset=utf-8")):
        head = client.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentType"] == kind and head["CacheControl"] == "public, max-age=300", key
    cff = client.head_object(Bucket=BUCKET, Key=f"site/{SLUG}/CITATION.cff")
    assert cff["ContentDisposition"] == 'inline; filename="CITATION.cff"'
    stable = client.get_object(Bucket=BUCKET, Key=f"site/{SLUG}/{SLUG}.pdf")
    assert stable["Body"].read() == (released_archive / SLUG / "1.2.0" / f"{SLUG}-1.2.0.pdf").read_bytes()
    assert stable["ContentDisposition"] == f'inline; filename="{SLUG}-1.2.0.pdf"'
    latest = sorted(k.rsplit("/", 1)[1] for k in objects(client, f"site/{SLUG}/latest/"))
    assert latest == sorted(["SHA256SUMS", "check.json", "manifest.json", f"{SLUG}-1.2.0-source.tar.gz",
                             f"{SLUG}-1.2.0.epub", f"{SLUG}-1.2.0.html", f"{SLUG}-1.2.0.pdf"])


def test_a_reader_gets_the_site_over_http(s3, published, released_archive):
    import feedparser

    endpoint, _ = s3
    base = f"{endpoint}/{BUCKET}/site/"

    def get(url):
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read()

    landing = base + f"{SLUG}/index.html"
    page = lxml_html.fromstring(get(landing))
    assert page.xpath("string(//h1)") == "Water Points in Three Districts"
    pdf = get(urllib.parse.urljoin(landing, page.xpath("//a[contains(@class,'button')]/@href")[0]))
    assert pdf == (released_archive / SLUG / "1.2.0" / f"{SLUG}-1.2.0.pdf").read_bytes()
    for href in page.xpath("//main//a/@href"):
        assert get(urllib.parse.urljoin(landing, href))  # no link leads to a missing object
    feed_url = base + "feed.xml"
    feed = feedparser.parse(get(feed_url), response_headers={"content-location": feed_url,
                                                             "content-type": "application/atom+xml"})
    assert not feed.bozo and len(feed.entries) == 2
    assert get(feed.entries[1].enclosures[0].href) == (released_archive / SLUG / "1.1.0" / f"{SLUG}-1.1.0.pdf").read_bytes()


def test_the_output_says_what_was_uploaded_and_read_back(published):
    out = published[1].stdout
    assert f"{SLUG}/1.1.0/{SLUG}-1.1.0.pdf: uploaded" in out
    assert "published 2 edition(s) to store: 14 file(s) uploaded, 0 already there, 5 page(s) written" in out
    assert "19 read back, each with the SHA-256 meant" in out
    assert f"s3://{BUCKET}/site/{SLUG}/{SLUG}.pdf" in out


def test_publishing_again_writes_nothing(s3, published, released_archive):
    _, client = s3
    before = objects(client, "site/")
    proc = run_publish(released_archive, published[0])
    assert proc.returncode == 0, proc.stderr
    assert "0 file(s) uploaded, 14 already there, 0 page(s) written, 5 unchanged" in proc.stdout
    assert objects(client, "site/") == before


def test_other_bytes_under_a_published_name_stop_the_publish(s3, released_archive, tmp_path):
    endpoint, client = s3
    config = write_config(tmp_path, endpoint, "altered/")
    assert run_publish(released_archive, config).returncode == 0
    key = f"altered/{SLUG}/1.1.0/{SLUG}-1.1.0.epub"
    client.put_object(Bucket=BUCKET, Key=key, Body=b"not the edition")
    client.delete_object(Bucket=BUCKET, Key="altered/index.html")  # work to do, which must not be done either
    before = objects(client, "altered/")
    proc = run_publish(released_archive, config)
    assert proc.returncode == 2
    assert f"s3://{BUCKET}/{key}" in proc.stderr and "never changed" in proc.stderr
    assert objects(client, "altered/") == before


def test_credentials_are_never_printed_nor_published(s3, released_archive, tmp_path):
    endpoint, client = s3
    config = write_config(tmp_path, endpoint, "creds/")
    proc = run_publish(released_archive, config)
    assert proc.returncode == 0, proc.stderr
    bad = run_publish(released_archive, write_config(tmp_path, endpoint, "creds/", bucket="no-such-bucket"))
    assert bad.returncode == 2 and "the bucket 'no-such-bucket' does not exist" in bad.stderr and "internal error" not in bad.stderr
    for text in (proc.stdout, proc.stderr, bad.stdout, bad.stderr, config.read_text()):
        assert SECRET not in text and KEY_ID not in text
    for key in objects(client, "creds/"):
        data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert SECRET.encode() not in data and KEY_ID.encode() not in data, key


def test_without_credentials_publish_says_where_they_come_from(s3, released_archive, tmp_path):
    endpoint, _ = s3
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path))
    proc = run_publish(released_archive, write_config(tmp_path, endpoint, "nocreds/"), env=env)
    assert proc.returncode == 2
    assert "no AWS credentials" in proc.stderr and "AWS_ACCESS_KEY_ID" in proc.stderr
    assert "internal error" not in proc.stderr


def test_verify_remote_names_a_flipped_byte_a_deleted_and_an_extra_object(s3, published, released_archive, tmp_path,
                                                                           capsys):
    endpoint, client = s3
    from pipeline.cli import main

    def verify(config):  # in this process: the server and the credentials in the environment are the same
        code = main(["editions", "verify", "--archive", str(released_archive), "--config", str(config),
                     "--remote", "store"])
        out = capsys.readouterr()
        return subprocess.CompletedProcess([], code, out.out, out.err)
    ok = verify(published[0])
    assert ok.returncode == 0 and "every file matches" in ok.stdout, ok.stdout + ok.stderr
    config = write_config(tmp_path, endpoint, "verify/")
    assert run_publish(released_archive, config).returncode == 0
    pdf = f"verify/{SLUG}/1.1.0/{SLUG}-1.1.0.pdf"
    data = bytearray(client.get_object(Bucket=BUCKET, Key=pdf)["Body"].read())
    data[len(data) // 3] ^= 0x01
    head = client.head_object(Bucket=BUCKET, Key=pdf)  # the same metadata: only reading the bytes finds it
    client.put_object(Bucket=BUCKET, Key=pdf, Body=bytes(data), Metadata=head["Metadata"])
    client.delete_object(Bucket=BUCKET, Key=f"verify/{SLUG}/1.2.0/{SLUG}-1.2.0.epub")
    client.put_object(Bucket=BUCKET, Key=f"verify/{SLUG}/1.2.0/notes.txt", Body=b"not part of the edition")
    bad = verify(config)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"s3://{BUCKET}/{pdf}: altered" in bad.stdout
    assert f"s3://{BUCKET}/verify/{SLUG}/1.2.0/{SLUG}-1.2.0.epub: missing" in bad.stdout
    assert f"s3://{BUCKET}/verify/{SLUG}/1.2.0/notes.txt: extra" in bad.stdout
    assert "3 problems" in bad.stdout


def test_with_object_lock_the_editions_files_are_retained_by_the_store(s3, released_archive, tmp_path):
    import datetime as dt

    endpoint, client = s3
    client.create_bucket(Bucket="locked-reports", ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": REGION})
    config = write_config(tmp_path, endpoint, "site/", bucket="locked-reports")
    config.write_text(config.read_text() + "    retention_days: 30\n", "utf-8")
    proc = run_publish(released_archive, config)
    assert proc.returncode == 0, proc.stderr
    key = f"site/{SLUG}/1.1.0/{SLUG}-1.1.0.pdf"
    head = client.head_object(Bucket="locked-reports", Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    days = (head["ObjectLockRetainUntilDate"] - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400
    assert 29 < days <= 30
    # the store itself refuses to delete it
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket="locked-reports", Key=key, VersionId=head["VersionId"])
    assert "ObjectLockMode" not in client.head_object(Bucket="locked-reports", Key="site/index.html")
    # a bucket without Object Lock cannot honour retention_days: said before anything is written
    plain = write_config(tmp_path, endpoint, "plain/")
    plain.write_text(plain.read_text() + "    retention_days: 30\n", "utf-8")
    refused = run_publish(released_archive, plain)
    assert refused.returncode == 2 and "has no Object Lock" in refused.stderr
    assert objects(client, "plain/") == {}


def _broken_links(client, prefix: str) -> list[str]:
    """Every link of the pages and the feed in the bucket that leads to no
    object, and every edition whose manifest is there without all its files."""
    import posixpath
    import re

    keys = set(objects(client, prefix))
    broken = []
    for page in [k for k in keys if k.endswith((".html", "feed.xml")) and "/latest/" not in k
                 and k.count("/") <= prefix.count("/") + 1]:
        text = client.get_object(Bucket=BUCKET, Key=page)["Body"].read().decode("utf-8")
        for href in re.findall(r'(?:href|src)="([^"]+)"', text):
            if href.startswith(("data:", "#", "http:", "https:")):
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), href.split("#")[0]))
            if target not in keys:
                broken.append(f"{page} -> {href}")
    for key in keys:
        if key.endswith("/manifest.json") and "/latest/" not in key:
            m = json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            folder = key.rsplit("/", 1)[0]
            broken += [f"{folder}/{f['name']} missing" for f in m["files"] if f"{folder}/{f['name']}" not in keys]
    return broken


def test_a_killed_publish_of_a_new_edition_leaves_no_broken_link_and_the_next_completes_it(s3, published,
                                                                                            released_archive, tmp_path):
    """The site holds edition 1.1.0; publishing 1.2.0 is killed at several
    moments: the pages never link to an object that is not there, and an
    edition's manifest is never there without its files."""
    import signal

    endpoint, client = s3
    older = tmp_path / "archive"
    shutil.copytree(released_archive, older)
    shutil.rmtree(older / SLUG / "1.2.0")
    ledger = older / "ledger.sha256"
    ledger.write_text("".join(l + "\n" for l in ledger.read_text().splitlines() if "/1.2.0/" not in l))
    config = write_config(tmp_path, endpoint, "killed/")
    assert run_publish(older, config).returncode == 0
    cmd = [sys.executable, "-m", "pipeline", "publish", "--archive", str(released_archive), "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.6, 1.0, 1.4, 1.8):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _broken_links(client, "killed/") == [], delay
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    assert _broken_links(client, "killed/") == []
    done = {k.removeprefix("killed/") for k in objects(client, "killed/")}
    assert done == {k.removeprefix("site/") for k in objects(client, "site/")}
