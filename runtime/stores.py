"""Object stores the pipeline reads uploads from and writes results to: S3, or a local directory."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectNotFound(LookupError):
    """No object under that key."""


class ObjectTooLarge(ValueError):
    """The object is larger than the reader allows; it was not read."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"{key} is {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class Page:
    """One page of keys in ascending order, and the cursor of the next page (None at the end)."""

    keys: tuple[str, ...]
    next_cursor: str | None


class Store(Protocol):
    """The few operations the pipeline and the app need from an object store."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` under ``key``, replacing what was there."""
        ...

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Write ``data`` under ``key`` only if nothing is there, atomically.

        Returns:
            True if this call wrote it; False if the key already existed or another writer's
            write of it is in flight (S3's 409), which may not be readable yet.
        """
        ...

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """Read an object.

        Raises:
            ObjectNotFound: nothing under ``key``.
            ObjectTooLarge: the object is over ``max_bytes``; it was not read.
        """
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def list_keys(self, prefix: str, limit: int, cursor: str | None = None) -> Page:
        """Up to ``limit`` keys under ``prefix`` in ascending order, after ``cursor``.

        With the ids of ``runtime.records`` ascending order is newest first, so the first page
        of an owner's prefix is their newest results.
        """
        ...


def _check_page_args(prefix: str, limit: int, cursor: str | None) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if cursor is not None and not cursor.startswith(prefix):
        raise ValueError(f"cursor {cursor!r} does not belong to prefix {prefix!r}")


_SOMEONE_ELSE_WROTE = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


class S3Store:
    """A ``Store`` over one S3 bucket. The caller creates and configures the client."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as exc:
            # 412: the key exists. 409: another conditional write of it is in flight (real S3
            # answers that to the loser of a race; moto never does). Either way another writer
            # is on it: the caller re-reads the winner, and retries later if it is not there.
            if exc.response.get("Error", {}).get("Code") in _SOMEONE_ELSE_WROTE:
                return False
            raise
        return True

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from exc
            raise
        body = response["Body"]
        size = response["ContentLength"]
        if max_bytes is not None and size > max_bytes:
            body.close()  # the size is in the headers: refuse before reading the body
            raise ObjectTooLarge(key, size, max_bytes)
        with body:
            return body.read()

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, prefix: str, limit: int, cursor: str | None = None) -> Page:
        _check_page_args(prefix, limit, cursor)
        # StartAfter="" is the same as no cursor: the listing starts at the prefix.
        response = self._s3.list_objects_v2(
            Bucket=self.bucket, Prefix=prefix, MaxKeys=limit, StartAfter=cursor or ""
        )
        keys = tuple(item["Key"] for item in response.get("Contents", []))
        more = response.get("IsTruncated", False) and bool(keys)
        return Page(keys=keys, next_cursor=keys[-1] if more else None)


class LocalStore:
    """A ``Store`` in a local directory: each key is a file under ``root``.

    Writes go to a temporary file in the target directory and are renamed (or hard-linked, for
    ``put_if_absent``) into place, so a reader never sees half a file and two writers of the
    same key cannot both win. Keys that would leave ``root`` are refused.

    Listings come from a sorted index of keys (SQLite, beside the files), so the newest page
    costs the same with 100 records or 100,000. An index row is written before its file, so
    the index may name a file that is not there (skipped and dropped when listed) but never
    misses one. Deleting ``.index.sqlite3`` rebuilds it from the files.
    """

    _TEMP_PREFIX = ".tmp-"
    _INDEX = ".index.sqlite3"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        fresh = not (self.root / self._INDEX).exists()
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY) WITHOUT ROWID")
        if fresh:
            self._rebuild_index()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        self._index(key)
        temp = self._write_temp(path, data)
        temp.replace(path)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        path = self._path(key)
        self._index(key)
        temp = self._write_temp(path, data)
        try:
            os.link(temp, path)  # atomic, and fails if the key exists
        except FileExistsError:
            return False
        finally:
            temp.unlink()
        return True

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        path = self._path(key)
        try:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                if max_bytes is not None and size > max_bytes:
                    raise ObjectTooLarge(key, size, max_bytes)
                return file.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str, limit: int, cursor: str | None = None) -> Page:
        _check_page_args(prefix, limit, cursor)
        keys: list[str] = []
        after = cursor
        while len(keys) <= limit:
            # One more than asked tells whether another page follows.
            wanted = limit + 1 - len(keys)
            rows = self._range(prefix, after, wanted)
            for key in rows:
                if self._path(key).is_file():
                    keys.append(key)
                else:
                    self._unindex(key)  # its write never finished
            if len(rows) < wanted:
                break
            after = rows[-1]
        page = tuple(keys[:limit])
        return Page(keys=page, next_cursor=page[-1] if len(keys) > limit else None)

    def _range(self, prefix: str, after: str | None, limit: int) -> list[str]:
        # Keys are compared as text; "\U0010ffff" sorts after anything a key may hold.
        upper = prefix + "\U0010ffff"
        with self._db() as db:
            if after is None:
                query = "SELECT key FROM keys WHERE key >= ? AND key < ? ORDER BY key LIMIT ?"
                rows = db.execute(query, (prefix, upper, limit)).fetchall()
            else:
                query = "SELECT key FROM keys WHERE key > ? AND key < ? ORDER BY key LIMIT ?"
                rows = db.execute(query, (after, upper, limit)).fetchall()
        return [row[0] for row in rows]

    def _index(self, key: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO keys (key) VALUES (?)", (key,))

    def _unindex(self, key: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM keys WHERE key = ?", (key,))

    def _rebuild_index(self) -> None:
        keys = []
        for current, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            relative = Path(current).relative_to(self.root).as_posix()
            stem = "" if relative == "." else relative + "/"
            keys += [(stem + f,) for f in files if not f.startswith(".")]
        with self._db() as db:
            db.executemany("INSERT OR IGNORE INTO keys (key) VALUES (?)", keys)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads)."""
        connection: sqlite3.Connection | None = getattr(self._local, "db", None)
        if connection is None:
            connection = sqlite3.connect(self.root / self._INDEX, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.db = connection
        return connection

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if (
            not key
            or "\\" in key
            or "\x00" in key
            or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
        ):
            raise ValueError(f"unsafe or malformed store key: {key!r}")
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"store key leaves the store: {key!r}")
        return path

    def _write_temp(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=self._TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
        except BaseException:
            Path(temp).unlink()
            raise
        return Path(temp)
