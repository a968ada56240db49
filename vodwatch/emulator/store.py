"""Object store on disk: whole objects and multipart uploads, OBS rules.

Layout under ``root``: ``objects/{bucket}/{key}`` holds object bytes (readable
paths, so a person can look at what arrived), ``uploads/{upload_id}/{n}.part``
holds parts, ``tmp/`` holds bodies still arriving. Metadata lives in memory.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

MIN_PART_SIZE = 100 * 1024  # every part but the last (VOD-API.md §3.4)
MAX_PART_NUMBER = 10_000
COPY_CHUNK = 1024 * 1024


class StoreError(Exception):
    """An OBS error: HTTP status, OBS code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Received:
    """A request body written to a temporary file."""

    path: Path
    size: int
    md5: bytes  # binary digest


@dataclass
class ObjectMeta:
    bucket: str
    key: str
    size: int
    md5_hex: str
    etag: str  # quoted, as sent in the ETag header
    content_type: str
    last_modified: float
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Part:
    number: int
    size: int
    md5: bytes
    last_modified: float
    path: Path

    @property
    def etag(self) -> str:
        return f'"{self.md5.hex()}"'


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    content_type: str
    metadata: dict[str, str]
    initiated: float
    parts: dict[int, Part] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def check_key(key: str) -> None:
    """Refuse keys that would escape the data folder or cannot be a file name."""
    parts = key.split("/")
    if not key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise StoreError(400, "InvalidObjectName", f"object key {key!r} is not supported here")


class ObjectStore:
    """Thread-safe store of objects and multipart uploads under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects_dir = root / "objects"
        self._uploads_dir = root / "uploads"
        self.tmp_dir = root / "tmp"
        for folder in (self._objects_dir, self._uploads_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._objects: dict[tuple[str, str], ObjectMeta] = {}
        self._uploads: dict[str, Upload] = {}
        self._expected_md5: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def expect_md5(self, bucket: str, key: str, md5_b64: str | None) -> None:
        """Remember the MD5 VOD was told for an object (None forgets it)."""
        with self._lock:
            if md5_b64 is None:
                self._expected_md5.pop((bucket, key), None)
            else:
                self._expected_md5[(bucket, key)] = md5_b64

    def expected_md5(self, bucket: str, key: str) -> str | None:
        with self._lock:
            return self._expected_md5.get((bucket, key))

    # -- whole objects -------------------------------------------------------
    def object_file(self, bucket: str, key: str) -> Path:
        check_key(key)
        check_key(bucket)
        return self._objects_dir / bucket / key

    def put(self, bucket: str, key: str, body: Received, content_type: str,
            metadata: dict[str, str] | None = None, etag: str | None = None) -> ObjectMeta:
        """Move a received body into place as the object ``bucket/key``."""
        target = self.object_file(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(body.path, target)
        meta = ObjectMeta(bucket=bucket, key=key, size=body.size, md5_hex=body.md5.hex(),
                          etag=etag or f'"{body.md5.hex()}"', content_type=content_type,
                          last_modified=time.time(), metadata=dict(metadata or {}))
        with self._lock:
            self._objects[(bucket, key)] = meta
        return meta

    def get(self, bucket: str, key: str) -> ObjectMeta | None:
        with self._lock:
            return self._objects.get((bucket, key))

    def delete(self, bucket: str, key: str) -> bool:
        with self._lock:
            meta = self._objects.pop((bucket, key), None)
        if meta is None:
            return False
        self.object_file(bucket, key).unlink(missing_ok=True)
        return True

    def list_objects(self, bucket: str | None = None, prefix: str = "") -> list[ObjectMeta]:
        with self._lock:
            found = [m for (b, k), m in self._objects.items()
                     if (bucket is None or b == bucket) and k.startswith(prefix)]
        return sorted(found, key=lambda m: (m.bucket, m.key))

    def buckets(self) -> list[str]:
        with self._lock:
            names = {b for b, _ in self._objects} | {u.bucket for u in self._uploads.values()}
        names |= {p.name for p in self._objects_dir.iterdir() if p.is_dir()}
        return sorted(names)

    def make_bucket(self, bucket: str) -> None:
        check_key(bucket)
        (self._objects_dir / bucket).mkdir(parents=True, exist_ok=True)

    # -- multipart -----------------------------------------------------------
    def initiate(self, bucket: str, key: str, content_type: str,
                 metadata: dict[str, str] | None = None) -> Upload:
        self.object_file(bucket, key)  # validates
        upload_id = uuid.uuid4().hex.upper()
        (self._uploads_dir / upload_id).mkdir()
        upload = Upload(upload_id=upload_id, bucket=bucket, key=key, content_type=content_type,
                        metadata=dict(metadata or {}), initiated=time.time())
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def upload(self, upload_id: str, bucket: str, key: str) -> Upload:
        """The upload with this ID for this object; raises NoSuchUpload."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise StoreError(404, "NoSuchUpload", "The specified upload does not exist. The"
                             " upload ID may be invalid, or the upload may have been aborted"
                             " or completed.")
        return upload

    def uploads(self) -> list[Upload]:
        with self._lock:
            return list(self._uploads.values())

    def put_part(self, upload: Upload, number: int, body: Received) -> Part:
        """Store (or overwrite) part ``number``."""
        if not 1 <= number <= MAX_PART_NUMBER:
            raise StoreError(400, "InvalidArgument",
                             f"Part number must be an integer between 1 and {MAX_PART_NUMBER}")
        path = self._uploads_dir / upload.upload_id / f"{number}.part"
        with upload.lock:
            if upload.upload_id not in self._uploads:
                raise StoreError(404, "NoSuchUpload", "The specified upload does not exist.")
            os.replace(body.path, path)
            part = Part(number=number, size=body.size, md5=body.md5,
                        last_modified=time.time(), path=path)
            upload.parts[number] = part
        return part

    def complete(self, upload: Upload, listed: list[tuple[int, str]]) -> ObjectMeta:
        """Concatenate the listed parts into the object; raises StoreError by OBS rules."""
        with upload.lock:
            with self._lock:
                if self._uploads.get(upload.upload_id) is not upload:
                    raise StoreError(404, "NoSuchUpload", "The specified upload does not exist.")
            chosen = self._check_parts(upload, listed)
            tmp = self.tmp_dir / f"complete-{uuid.uuid4().hex}"
            file_md5 = hashlib.md5()
            with tmp.open("wb") as out:
                for part in chosen:
                    with part.path.open("rb") as src:
                        while chunk := src.read(COPY_CHUNK):
                            out.write(chunk)
                            file_md5.update(chunk)
            size = sum(p.size for p in chosen)
            etag_md5 = hashlib.md5(b"".join(p.md5 for p in chosen)).hexdigest()
            etag = f'"{etag_md5}-{len(chosen)}"'
            meta = self.put(upload.bucket, upload.key,
                            Received(path=tmp, size=size, md5=file_md5.digest()),
                            upload.content_type, upload.metadata, etag=etag)
            self._drop(upload)
            return meta

    def abort(self, upload: Upload) -> None:
        with upload.lock:
            self._drop(upload)

    def _drop(self, upload: Upload) -> None:
        with self._lock:
            self._uploads.pop(upload.upload_id, None)
        shutil.rmtree(self._uploads_dir / upload.upload_id, ignore_errors=True)

    @staticmethod
    def _check_parts(upload: Upload, listed: list[tuple[int, str]]) -> list[Part]:
        if not listed:
            raise StoreError(400, "MalformedXML", "The XML you provided was not well-formed"
                             " or did not validate against our published schema.")
        numbers = [n for n, _ in listed]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise StoreError(400, "InvalidPartOrder", "The list of parts was not in ascending"
                             " order. The parts list must be specified in order by part number.")
        chosen: list[Part] = []
        for number, etag in listed:
            part = upload.parts.get(number)
            if part is None or etag.strip().strip('"').lower() != part.md5.hex():
                raise StoreError(400, "InvalidPart", f"One or more of the specified parts could"
                                 f" not be found or its ETag did not match (part {number}).")
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise StoreError(400, "EntityTooSmall", f"Your proposed upload is smaller than"
                                 f" the minimum allowed size (part {part.number} has"
                                 f" {part.size} bytes; parts but the last need"
                                 f" {MIN_PART_SIZE}).")
        return chosen
