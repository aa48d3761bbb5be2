"""runtime.stores: one contract, run against LocalStore and against S3Store on moto."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from runtime.stores import LocalStore, ObjectNotFound, ObjectTooLarge, S3Store, Store
from tests.conftest import REPO

BUCKET = "dermascan-test"


# --- the contract ----------------------------------------------------------------------------


def test_put_then_get_returns_the_bytes(store: Store) -> None:
    store.put("uploads/local/a.jpg", b"\xff\xd8 image", "image/jpeg")
    assert store.get("uploads/local/a.jpg") == b"\xff\xd8 image"
    assert store.exists("uploads/local/a.jpg")


def test_put_replaces(store: Store) -> None:
    store.put("thumbnails/local/a.jpg", b"one", "image/jpeg")
    store.put("thumbnails/local/a.jpg", b"two", "image/jpeg")
    assert store.get("thumbnails/local/a.jpg") == b"two"


def test_missing_objects(store: Store) -> None:
    assert not store.exists("predictions/local/none.json")
    with pytest.raises(ObjectNotFound):
        store.get("predictions/local/none.json")


def test_delete_removes_the_object_and_its_listing(store: Store) -> None:
    store.put("uploads/local/a.jpg", b"a", "image/jpeg")
    store.put("uploads/local/a.jpg.b", b"b", "image/jpeg")  # shares a's key as a prefix
    store.delete("uploads/local/a.jpg")
    assert not store.exists("uploads/local/a.jpg")
    assert store.list_keys("uploads/local/", 10).keys == ("uploads/local/a.jpg.b",)
    store.delete("uploads/local/a.jpg")  # nothing there is fine
    store.delete("uploads/local/never.jpg")


def test_s3_delete_removes_every_version_not_just_the_visible_one(mocked_aws: None) -> None:
    """The bucket is versioned: deleting for privacy must not leave old versions behind a
    delete marker (S3 User Guide, "Deleting object versions from a versioning-enabled
    bucket")."""
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    store = S3Store(client, BUCKET)
    for version in (b"one", b"two"):
        store.put("cases/local/x.json", version, "application/json")
    client.delete_object(Bucket=BUCKET, Key="cases/local/x.json")  # a delete marker too
    store.put("cases/local/x.json", b"three", "application/json")
    store.put("cases/local/x.json.keep", b"other", "application/json")

    store.delete("cases/local/x.json")
    versions = client.list_object_versions(Bucket=BUCKET, Prefix="cases/local/")
    left = [v["Key"] for v in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]]
    assert left == ["cases/local/x.json.keep"]


def test_put_if_absent_writes_once(store: Store) -> None:
    assert store.put_if_absent("predictions/local/a.json", b"first", "application/json")
    assert not store.put_if_absent("predictions/local/a.json", b"second", "application/json")
    assert store.get("predictions/local/a.json") == b"first"


def test_get_refuses_objects_over_the_limit_without_reading(store: Store) -> None:
    store.put("uploads/local/big.jpg", b"x" * 1000, "image/jpeg")
    with pytest.raises(ObjectTooLarge) as refused:
        store.get("uploads/local/big.jpg", max_bytes=999)
    assert (refused.value.size, refused.value.limit) == (1000, 999)
    assert store.get("uploads/local/big.jpg", max_bytes=1000) == b"x" * 1000


def test_listing_pages_in_ascending_order_without_overlap(store: Store) -> None:
    keys = [f"predictions/local/{i:04d}.json" for i in range(25)]
    for key in reversed(keys):
        store.put(key, b"{}", "application/json")
    store.put("predictions/other/0000.json", b"{}", "application/json")  # another owner
    store.put("predictions/localx/0000.json", b"{}", "application/json")  # a longer prefix

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list_keys("predictions/local/", 10, cursor)
        seen.extend(page.keys)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == keys
    assert pages == 3


def test_a_full_last_page_ends_the_listing(store: Store) -> None:
    for i in range(4):
        store.put(f"uploads/local/{i}.jpg", b"x", "image/jpeg")
    first = store.list_keys("uploads/local/", 2)
    second = store.list_keys("uploads/local/", 2, first.next_cursor)
    assert (first.keys, second.keys) == (
        ("uploads/local/0.jpg", "uploads/local/1.jpg"),
        ("uploads/local/2.jpg", "uploads/local/3.jpg"),
    )
    # S3 may say "more" when the page is exactly full; the next page is then empty and final.
    if second.next_cursor is not None:
        assert store.list_keys("uploads/local/", 2, second.next_cursor).keys == ()


def test_listing_an_empty_prefix(store: Store) -> None:
    page = store.list_keys("uploads/nobody/", 10)
    assert (page.keys, page.next_cursor) == ((), None)


def test_listing_arguments_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list_keys("uploads/local/", 0)
    with pytest.raises(ValueError, match="cursor"):
        store.list_keys("uploads/local/", 5, cursor="uploads/other/x.jpg")


def test_concurrent_put_if_absent_has_exactly_one_winner(store: Store) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        barrier.wait()
        wins.append(store.put_if_absent("predictions/local/race.json", b"%d" % n, "text/plain"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]


# --- LocalStore specifics --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../outside", "uploads/../../etc/passwd", "/etc/passwd", "a//b", "a/./b", "a\\b", "", "a/.b"],
)
def test_local_keys_cannot_leave_the_store(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ValueError, match="store key"):
        store.put(key, b"x", "text/plain")
    with pytest.raises(ValueError, match="store key"):
        store.get(key)
    assert not (tmp_path / "outside").exists()


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b.json", b"1", "application/json")
    store.put_if_absent("a/c.json", b"2", "application/json")
    store.put_if_absent("a/c.json", b"3", "application/json")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.json", "c.json"]


def test_local_listing_skips_half_written_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("uploads/local/1.jpg", b"x", "image/jpeg")
    (tmp_path / "uploads" / "local" / ".tmp-abc").write_bytes(b"partial")
    assert store.list_keys("uploads/local/", 10).keys == ("uploads/local/1.jpg",)


def test_local_files_written_before_the_index_existed_are_listed(tmp_path: Path) -> None:
    (tmp_path / "uploads" / "local").mkdir(parents=True)
    for name in ("b.jpg", "a.jpg"):
        (tmp_path / "uploads" / "local" / name).write_bytes(b"x")
    store = LocalStore(tmp_path)  # no index yet: built from the files
    assert store.list_keys("uploads/local/", 10).keys == (
        "uploads/local/a.jpg",
        "uploads/local/b.jpg",
    )


def test_local_listing_skips_keys_whose_files_are_gone(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for name in ("a", "b", "c"):
        store.put(f"uploads/local/{name}.jpg", b"x", "image/jpeg")
    (tmp_path / "uploads" / "local" / "b.jpg").unlink()  # deleted behind the store's back
    first = store.list_keys("uploads/local/", 1)
    second = store.list_keys("uploads/local/", 1, first.next_cursor)
    assert (first.keys, second.keys, second.next_cursor) == (
        ("uploads/local/a.jpg",),
        ("uploads/local/c.jpg",),
        None,
    )


# --- S3Store specifics -----------------------------------------------------------------------


class ConflictingWriter:
    """A before-send hook playing real S3's answer to the loser of a conditional-write race:
    the winner's object lands, and this request gets ``409 ConditionalRequestConflict``.

    The 409 is answered below botocore, so its real error parsing and retry policy run.
    """

    def __init__(self, winner: S3Store, data: bytes) -> None:
        self.winner = winner
        self.data = data
        self.conflicts = 0

    def __call__(self, request: AWSPreparedRequest, **_: object) -> AWSResponse | None:
        if "If-None-Match" not in request.headers:
            return None
        key = unquote(urlsplit(request.url).path.lstrip("/"))  # virtual-hosted: /<key>
        self.winner.put(key, self.data, "application/json")  # the other writer got there first
        self.conflicts += 1
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict'
            b"</Code><Message>A conflicting conditional operation is currently in progress "
            b"against this resource. Please try again.</Message></Error>"
        )
        return AWSResponse(request.url, 409, {}, _RawBody(body))  # type: ignore[arg-type]


class _RawBody(io.BytesIO):
    def stream(self, **_: object) -> Iterator[bytes]:
        yield self.getvalue()


def test_s3_a_409_conflict_means_another_writer_like_a_412(mocked_aws: None) -> None:
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    other = S3Store(boto3.client("s3", region_name="eu-west-1"), BUCKET)
    conflict = ConflictingWriter(other, b'{"winner": true}')
    client.meta.events.register_first("before-send.s3.PutObject", conflict)  # type: ignore[arg-type]
    store = S3Store(client, BUCKET)

    assert (
        store.put_if_absent("predictions/local/race.json", b'{"loser": 1}', "text/plain") is False
    )
    assert conflict.conflicts == 1  # answered once, not retried by botocore
    assert store.get("predictions/local/race.json") == b'{"winner": true}'


# --- LocalStore durability: crashes, concurrent processes, a damaged index --------------------

WRITER = """
import sys
from runtime.stores import LocalStore
root, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = LocalStore(root)
data = bytes(512 * 1024)  # a photo's size: writing it takes long enough to be overtaken
for n in range(count):
    store.put(f"uploads/local/{name}-{n:03d}.jpg", data, "image/jpeg")
"""

LISTER = """
import pathlib, sys
from runtime.stores import LocalStore
root, stop = sys.argv[1], pathlib.Path(sys.argv[2])
store = LocalStore(root)
while not stop.exists():
    cursor = None
    while True:  # page through everything, as History and resume_pending do
        page = store.list_keys("uploads/local/", 7, cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
"""


def _python(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO)


def test_no_upload_is_lost_while_other_processes_list(tmp_path: Path) -> None:
    root, stop = tmp_path / "store", tmp_path / "stop"
    LocalStore(root)
    listers = [_python(LISTER, str(root), str(stop)) for _ in range(2)]
    writers = [_python(WRITER, str(root), name, "40") for name in ("app", "cli")]
    try:
        assert [writer.wait(timeout=300) for writer in writers] == [0, 0]
    finally:
        stop.touch()
        assert [lister.wait(timeout=60) for lister in listers] == [0, 0]
    expected = sorted(
        f"uploads/local/{name}-{n:03d}.jpg" for name in ("app", "cli") for n in range(40)
    )
    listed = LocalStore(root).list_keys("uploads/local/", 1000).keys
    assert list(listed) == expected  # none dropped, hidden or listed twice


KILLED_WRITER = """
import os, signal, sys
from runtime.stores import LocalStore
root, step = sys.argv[1], sys.argv[2]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
store = LocalStore(root)
if step == "before-publish":
    LocalStore._publish = die  # killed with the data written to its temporary file
else:
    LocalStore._index = die  # killed with the file in place, before its key is indexed
store.put("uploads/local/" + step + ".jpg", b"a lesion photo", "image/jpeg")
"""


def test_what_a_killed_writer_leaves_is_recovered_or_cleaned_on_the_next_open(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    LocalStore(root).put("uploads/local/earlier.jpg", b"x", "image/jpeg")
    for step in ("before-publish", "before-index"):
        killed = _python(KILLED_WRITER, str(root), step)
        assert killed.wait(timeout=60) == -signal.SIGKILL
    assert len(list((root / ".tmp").iterdir())) > 1  # what the killed writers left behind

    reopened = LocalStore(root)

    # The file that made it into place is listed; the one that did not never appears.
    assert reopened.list_keys("uploads/local/", 10).keys == (
        "uploads/local/before-index.jpg",
        "uploads/local/earlier.jpg",
    )
    assert reopened.get("uploads/local/before-index.jpg") == b"a lesion photo"
    assert [p.name for p in (root / ".tmp").iterdir()] == [".lock"]  # no orphan health data


def test_a_damaged_index_is_set_aside_and_rebuilt_from_the_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for name in ("a", "b", "c"):
        store.put(f"uploads/local/{name}.jpg", b"x", "image/jpeg")
    del store
    for extra in tmp_path.glob(".index.sqlite3-*"):
        extra.unlink()
    (tmp_path / ".index.sqlite3").write_bytes(b"this is not a database" * 100)

    assert LocalStore(tmp_path).list_keys("uploads/local/", 10).keys == (
        "uploads/local/a.jpg",
        "uploads/local/b.jpg",
        "uploads/local/c.jpg",
    )
    assert list(tmp_path.glob(".index.sqlite3.damaged-*"))


def test_a_write_is_fsynced_renamed_fsynced_and_only_then_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    store.put("uploads/local/first.jpg", b"x", "image/jpeg")  # directories exist from now on
    steps: list[str] = []
    real_fsync, real_link, real_index = os.fsync, os.link, LocalStore._index

    def fsync(fd: int) -> None:
        steps.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def link(source: Any, target: Any) -> None:
        steps.append("link into place" if ".tmp" not in str(target) else "keep trace")
        real_link(source, target)

    def index(self: LocalStore, key: str) -> None:
        steps.append("index")
        real_index(self, key)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(LocalStore, "_index", index)
    store.put_if_absent("uploads/local/second.jpg", b"y", "image/jpeg")
    assert steps == ["fsync file", "link into place", "fsync dir", "index"]
    steps.clear()
    store.put("uploads/local/second.jpg", b"z", "image/jpeg")
    assert steps == ["fsync file", "keep trace", "fsync dir", "index"]  # renamed in between
    steps.clear()
    # A derived object (a thumbnail, made again from its upload) is placed the same way, but
    # without the fsyncs that only protect what cannot be made again.
    store.put("thumbnails/local/second.jpg", b"t", "image/jpeg", derived=True)
    assert steps == ["keep trace", "index"]
    assert store.get("thumbnails/local/second.jpg") == b"t"


def test_an_index_last_opened_before_the_machine_restarted_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # synchronous=NORMAL may lose the last commits to a power cut, never the fsynced files: a
    # restart is detected (another boot id) and the index is rebuilt from the files.
    store = LocalStore(tmp_path)
    store.put("uploads/local/a.jpg", b"x", "image/jpeg")
    assert store._db().execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    store._db().execute("DELETE FROM keys")  # what a power cut may have taken
    assert LocalStore(tmp_path).list_keys("uploads/local/", 10).keys == ()  # same boot

    monkeypatch.setattr("runtime.stores._boot_id", lambda: "after-a-restart")
    assert LocalStore(tmp_path).list_keys("uploads/local/", 10).keys == ("uploads/local/a.jpg",)
