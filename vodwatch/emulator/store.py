"""Object store on disk: whole objects and multipart uploads, OBS rules.

Layout under ``root``: ``objects/{bucket}/{key}`` holds object bytes (readable
paths, so a person can look at what arrived), ``uploads/{upload_id}/`` holds
parts: those of the upload's usual part size in place in ``assembly`` (so that
completing an upload is a rename, not a second copy of every byte, as with OBS
where completing is quick), others in ``{n}.part``. ``tmp/`` holds bodies still
arriving. Metadata lives in memory.
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
from typing import BinaryIO

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
    """A request body written to a file (at ``offset`` in it)."""

    path: Path
    size: int
    md5: bytes  # binary digest
    offset: int = 0


@dataclass
class ObjectMeta:
    bucket: str
    key: str
    size: int
    md5_hex: str  # "" until ObjectStore.md5_hex works it out (objects made of parts)
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
    offset: int = 0  # where its bytes start in ``path``

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
    assembly: Path  # parts of size ``stride`` live here, part n at (n - 1) * stride
    parts: dict[int, Part] = field(default_factory=dict)
    stride: int = 0  # the upload's usual part size, learnt from its first full part
    writing: set[int] = field(default_factory=set)  # parts arriving in place now
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def laid_out(self, chosen: list[Part]) -> bool:
        """True when ``chosen`` already sits in ``assembly`` back to back from offset 0."""
        return not self.writing and all(
            p.path == self.assembly and p.offset == i * self.stride
            and (p.size == self.stride or i == len(chosen) - 1)
            for i, p in enumerate(chosen))


def _append(src: Path, offset: int, size: int, out: BinaryIO) -> None:
    """Copy ``size`` bytes of ``src`` from ``offset`` to the end of ``out``."""
    with src.open("rb", buffering=0) as fh:
        end = offset + size
        kernel = True  # copy inside the kernel where the filesystems allow it
        while offset < end:
            if kernel:
                try:
                    n = os.copy_file_range(fh.fileno(), out.fileno(), end - offset, offset)
                except OSError:
                    kernel = False
                    continue
            else:
                data = os.pread(fh.fileno(), min(COPY_CHUNK, end - offset), offset)
                n = out.write(data) if data else 0
            if not n:
                raise StoreError(500, "InternalError", "a stored part is shorter than recorded")
            offset += n


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

    def md5_hex(self, meta: ObjectMeta) -> str:
        """The object's MD5 in hex; hashed on first use for objects assembled from parts."""
        if not meta.md5_hex:
            digest = hashlib.md5()
            try:
                with self.object_file(meta.bucket, meta.key).open("rb", buffering=0) as fh:
                    while chunk := fh.read(4 * COPY_CHUNK):
                        digest.update(chunk)
            except FileNotFoundError:
                return ""  # deleted meanwhile
            meta.md5_hex = digest.hexdigest()
        return meta.md5_hex

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
                        metadata=dict(metadata or {}), initiated=time.time(),
                        assembly=self._uploads_dir / upload_id / "assembly")
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

    def part_slot(self, upload: Upload, number: int, length: int) -> tuple[Path, int] | None:
        """Where part ``number`` of ``length`` bytes may be received in place, or None.

        None (receive into a temporary file) for a part already stored or arriving,
        so a failed re-upload never damages a part the store holds, and for a part
        longer than the upload's usual part size. Call ``release_slot`` afterwards.
        """
        with upload.lock:
            with self._lock:
                if self._uploads.get(upload.upload_id) is not upload:
                    return None
            if upload.stride == 0 and length >= MIN_PART_SIZE:
                upload.stride = length
            if (not 1 <= number <= MAX_PART_NUMBER or number in upload.parts
                    or number in upload.writing or not 0 < length <= upload.stride):
                return None
            upload.writing.add(number)
            return upload.assembly, (number - 1) * upload.stride

    def release_slot(self, upload: Upload, number: int) -> None:
        with upload.lock:
            upload.writing.discard(number)

    def put_part(self, upload: Upload, number: int, body: Received) -> Part:
        """Store (or overwrite) part ``number``, received in place or in a temporary file."""
        if not 1 <= number <= MAX_PART_NUMBER:
            raise StoreError(400, "InvalidArgument",
                             f"Part number must be an integer between 1 and {MAX_PART_NUMBER}")
        path = self._uploads_dir / upload.upload_id / f"{number}.part"
        with upload.lock:
            if upload.upload_id not in self._uploads:
                raise StoreError(404, "NoSuchUpload", "The specified upload does not exist.")
            if body.path == upload.assembly:
                path = body.path
            else:
                os.replace(body.path, path)
            part = Part(number=number, size=body.size, md5=body.md5,
                        last_modified=time.time(), path=path, offset=body.offset)
            upload.parts[number] = part
        return part

    def complete(self, upload: Upload, listed: list[tuple[int, str]]) -> ObjectMeta:
        """Join the listed parts into the object; raises StoreError by OBS rules.

        The usual upload (parts 1..N received in place) becomes the object by a
        rename; any other is copied part by part. The object's MD5 is worked out
        only if asked for (``md5_hex``).
        """
        with upload.lock:
            with self._lock:
                if self._uploads.get(upload.upload_id) is not upload:
                    raise StoreError(404, "NoSuchUpload", "The specified upload does not exist.")
            chosen = self._check_parts(upload, listed)
            size = sum(p.size for p in chosen)
            if upload.laid_out(chosen):
                tmp = upload.assembly
                os.truncate(tmp, size)
            else:
                tmp = self.tmp_dir / f"complete-{uuid.uuid4().hex}"
                with tmp.open("wb", buffering=0) as out:
                    for part in chosen:
                        _append(part.path, part.offset, part.size, out)
            etag_md5 = hashlib.md5(b"".join(p.md5 for p in chosen)).hexdigest()
            etag = f'"{etag_md5}-{len(chosen)}"'
            meta = self.put(upload.bucket, upload.key, Received(path=tmp, size=size, md5=b""),
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
