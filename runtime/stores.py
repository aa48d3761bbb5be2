"""Object stores the pipeline reads uploads from and writes results to: S3, or a local directory."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


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

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
        """Write ``data`` under ``key``, replacing what was there.

        ``derived``: the data can be made again from what else is stored (a thumbnail from its
        upload), so a store may skip the work that makes a write survive a crash.
        """
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

    def delete(self, key: str) -> None:
        """Delete what is stored under ``key``, every version of it; nothing there is fine."""
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

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
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

    def delete(self, key: str) -> None:
        # The bucket is versioned: a plain delete would only hide the object behind a delete
        # marker. Deleting for privacy means every version of it, and the markers too.
        versions = self._s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        found = [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]
        doomed: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in found
            if item.get("Key") == key and "VersionId" in item
        ]
        if not doomed:
            self._s3.delete_object(Bucket=self.bucket, Key=key)  # an unversioned bucket
            return
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes 1,000 at a time
            answer = self._s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise RuntimeError(f"could not delete {key}: {first.get('Code')}")

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
    """A ``Store`` in a local directory: each key is a file under ``root``, listed through a
    sorted index of keys (SQLite, beside the files), so the newest page costs the same with 100
    records or 100,000. Two processes on one directory (the app and ``classify --save``) are a
    normal day. Keys that would leave ``root`` are refused.

    A write, in this order: the data goes to a temporary file under ``.tmp/`` and is fsynced;
    it is renamed (``put``) or hard-linked (``put_if_absent``: atomic, and fails if the key
    exists) into place; the directory is fsynced; then the key is indexed; only then does the
    temporary name go. So a reader never sees half a file, a key is indexed only once its file
    exists, and after a crash:

    - a temporary file left by a killed writer names its key: opening the store indexes the
      key if its file made it into place, and deletes the temporary file (never while any
      writer is at work: writers hold a shared lock on ``.tmp/.lock``, the cleaner an exclusive
      one);
    - an index that is missing or cannot be opened is rebuilt from the files, and so is one
      last opened before the machine restarted (see ``_db`` for why that makes SQLite's
      ``synchronous=NORMAL`` safe).

    A listing skips an indexed key whose file is gone (deleted behind the store's back) and
    drops it only after checking again under SQLite's write lock, which a writer needs to index
    its key after the file exists: a listing can never drop what a writer is creating.

    Args of the constructor: ``root``; ``durable=False`` skips the fsyncs, for scratch data
    nobody keeps (benchmark setup, throwaway directories), never for someone's records.
    """

    _TEMP_DIR = ".tmp"
    _LOCK = ".lock"
    _INDEX = ".index.sqlite3"

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root).resolve()
        self.durable = durable
        self._temp_dir = self.root / self._TEMP_DIR
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        fresh = not (self.root / self._INDEX).exists()
        try:
            self._create_index()
        except sqlite3.DatabaseError:
            self._set_aside_index()
            self._create_index()
            fresh = True
        boot = _boot_id()
        if fresh or boot is None or self._last_boot() != boot:
            self.rebuild_index()
            if boot is not None:
                self._db().execute("INSERT OR REPLACE INTO meta VALUES ('boot', ?)", (boot,))
        self.clean_up()

    # --- writes ---------------------------------------------------------------------------

    def put(self, key: str, data: bytes, content_type: str, *, derived: bool = False) -> None:
        path = self._path(key)
        durable = self.durable and not derived  # a derived object is made again if lost
        with self._writing():
            temp = self._write_temp(key, data, durable=durable)
            marker = temp.with_name(temp.name + "+")
            os.link(temp, marker)  # the temporary name stays until the key is indexed
            self._publish(temp, path, replace=True, durable=durable)
            self._index(key)
            marker.unlink()

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        path = self._path(key)
        with self._writing():
            temp = self._write_temp(key, data, durable=self.durable)
            try:
                self._publish(temp, path, replace=False, durable=self.durable)
            except FileExistsError:
                temp.unlink()
                return False
            self._index(key)
            temp.unlink()
        return True

    def _write_temp(self, key: str, data: bytes, *, durable: bool) -> Path:
        # The key is in the name, so a killed writer's leftover says which key to check.
        prefix = quote(key, safe="") + "~" if len(key) < 150 else "~"
        fd, name = tempfile.mkstemp(prefix=prefix, dir=self._temp_dir)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                if durable:
                    os.fsync(file.fileno())
        except BaseException:
            Path(name).unlink()
            raise
        return Path(name)

    def _publish(self, temp: Path, path: Path, *, replace: bool, durable: bool) -> None:
        created = self._make_parents(path.parent)
        if replace:
            temp.replace(path)
        else:
            os.link(temp, path)  # atomic, and fails if the key exists
        if durable:
            for directory in (path.parent, *created):
                _fsync_directory(directory)

    def _make_parents(self, directory: Path) -> list[Path]:
        """Create ``directory`` and missing parents; return the parents of those created (whose
        entries must be made durable too)."""
        missing = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            new.mkdir(exist_ok=True)
        return [new.parent for new in missing]

    @contextmanager
    def _writing(self) -> Iterator[None]:
        lock: int | None = getattr(self._local, "lock", None)
        if lock is None:
            lock = os.open(self._temp_dir / self._LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            self._local.lock = lock
            weakref.finalize(self, os.close, lock)  # closed when the store goes
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    # --- reads ----------------------------------------------------------------------------

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

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._writing():
            path.unlink(missing_ok=True)
            if self.durable:
                _fsync_directory(path.parent)
            self._db().execute("DELETE FROM keys WHERE key = ?", (key,))

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
                    self._drop_if_gone(key)
            if len(rows) < wanted:
                break
            after = rows[-1]
        page = tuple(keys[:limit])
        return Page(keys=page, next_cursor=page[-1] if len(keys) > limit else None)

    # --- the index ------------------------------------------------------------------------

    def rebuild_index(self) -> None:
        """Index every file under ``root`` (keys already indexed stay)."""
        keys = []
        for current, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            relative = Path(current).relative_to(self.root).as_posix()
            stem = "" if relative == "." else relative + "/"
            keys += [(stem + f,) for f in files if not f.startswith(".")]
        self._db().executemany("INSERT OR IGNORE INTO keys (key) VALUES (?)", keys)

    def clean_up(self) -> bool:
        """Finish what killed writers left: index the key of each leftover temporary file whose
        file made it into place, then delete the temporary files. Skipped (returns False) while
        any writer, in any process, is at work.
        """
        lock = os.open(self._temp_dir / self._LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            unknown = False
            for leftover in self._temp_dir.iterdir():
                if leftover.name == self._LOCK:
                    continue
                name, tilde, _ = leftover.name.partition("~")
                if tilde and name:
                    key = unquote(name)
                    with suppress(ValueError):  # not a key this store could have written
                        if self._path(key).is_file():
                            self._index(key)
                else:
                    unknown = True
                leftover.unlink()
            if unknown:
                self.rebuild_index()
            return True
        finally:
            os.close(lock)  # releases the lock

    def _create_index(self) -> None:
        db = self._db()
        db.execute("CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("SELECT count(*) FROM keys").fetchone()  # a damaged file fails here

    def _last_boot(self) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE name = 'boot'").fetchone()
        return None if row is None else str(row[0])

    def _set_aside_index(self) -> None:
        """Move a damaged index out of the way (kept for a post-mortem, never read again)."""
        connection: sqlite3.Connection | None = getattr(self._local, "db", None)
        if connection is not None:
            connection.close()
            self._local.db = None
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            damaged = self.root / (self._INDEX + suffix)
            if damaged.exists():
                damaged.replace(self.root / f"{self._INDEX}{suffix}.damaged-{stamp}")

    def _range(self, prefix: str, after: str | None, limit: int) -> list[str]:
        # Keys are compared as text; "\U0010ffff" sorts after anything a key may hold.
        upper = prefix + "\U0010ffff"
        db = self._db()
        if after is None:
            query = "SELECT key FROM keys WHERE key >= ? AND key < ? ORDER BY key LIMIT ?"
            rows = db.execute(query, (prefix, upper, limit)).fetchall()
        else:
            query = "SELECT key FROM keys WHERE key > ? AND key < ? ORDER BY key LIMIT ?"
            rows = db.execute(query, (after, upper, limit)).fetchall()
        return [row[0] for row in rows]

    def _index(self, key: str) -> None:
        self._db().execute("INSERT OR IGNORE INTO keys (key) VALUES (?)", (key,))

    def _drop_if_gone(self, key: str) -> None:
        # Under the write lock a writer needs to index its key (after its file exists), the
        # file is looked for again: only a key whose file is really gone is dropped.
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if not self._path(key).is_file():
                db.execute("DELETE FROM keys WHERE key = ?", (key,))
        finally:
            db.execute("COMMIT")

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads)."""
        connection: sqlite3.Connection | None = getattr(self._local, "db", None)
        if connection is None:
            # Autocommit: each statement is its own transaction, BEGIN only where it is needed.
            connection = sqlite3.connect(self.root / self._INDEX, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            # NORMAL, not FULL, saves an fsync per write (a third of a write's cost) and is
            # safe here: in WAL mode a commit survives any crash of a process (it is in the
            # operating system's cache); only a crash of the machine can lose the last commits,
            # and an index last opened before the machine restarted is rebuilt from the files
            # (the files themselves were fsynced). Where the boot cannot be told, FULL.
            mode = "FULL" if _boot_id() is None else "NORMAL"
            connection.execute(f"PRAGMA synchronous={mode if self.durable else 'OFF'}")
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


def _boot_id() -> str | None:
    """This boot of the machine (Linux), or None where it cannot be told."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _fsync_directory(directory: Path) -> None:
    """Make the entries of ``directory`` (a rename, a new link) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
