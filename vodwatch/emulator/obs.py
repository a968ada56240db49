"""The object store over HTTP: signed-URL checks (OBS V2) and the object and
multipart operations, shared with the S3 compatibility mode.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate

from ..vod import obs_url
from .replies import OBS_NS, S3_NS, element, obs_error, xml_bytes
from .server import BodyTooLarge, Exchange
from .store import ObjectMeta, ObjectStore, StoreError

MAX_SINGLE_PUT = 5 * 1024 ** 3
MAX_COMPLETE_BODY = 10 * 1024 * 1024
META_PREFIXES = ("x-amz-meta-", "x-obs-meta-")


def operation_of(method: str, key: str, has: Callable[[str], bool]) -> str:
    """Fault/record name of an object-store request."""
    if not key:
        return "obs_bucket"
    if method == "POST":
        return "obs_initiate" if has("uploads") else "obs_complete"
    if method == "PUT":
        return "obs_part" if has("partNumber") or has("uploadId") else "obs_put"
    if method == "GET":
        return "obs_list" if has("uploadId") else "obs_get"
    if method == "DELETE":
        return "obs_abort" if has("uploadId") else "obs_delete"
    return "obs_head"


def split_path(path: str) -> tuple[str, str]:
    """``/bucket/some/key`` -> (bucket, key); key "" for bucket-level requests."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def http_time(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


class ObsApi:
    """Object operations; ``s3`` selects the XML namespace and skips URL signatures."""

    def __init__(self, store: ObjectStore, obs_ak: str, obs_sk: str,
                 clock: Callable[[], float], base_url: Callable[[Exchange], str]) -> None:
        self.store = store
        self.ak = obs_ak
        self.sk = obs_sk
        self.clock = clock
        self.base_url = base_url

    def check_signature(self, ex: Exchange, bucket: str, key: str) -> bool:
        """Verify the V2 query signature; answers 403 and returns False if it fails."""
        obs_headers = {k: v for k, v in ex.headers.items()
                       if k.lower().startswith(("x-obs-", "x-amz-"))}
        verdict, expected = obs_url.verify(
            ak=self.ak, sk=self.sk, verb=ex.method, bucket=bucket, key=key, query=ex.query,
            content_md5=ex.header("Content-MD5") or "",
            content_type=ex.header("Content-Type") or "", now=self.clock(),
            obs_headers=obs_headers)
        if verdict is obs_url.Check.OK:
            return True
        if verdict is obs_url.Check.MISSING:
            obs_error(ex, 403, "AccessDenied", "Access Denied: the request carries no"
                      " signature (use the signed URL VOD handed out)")
        elif verdict is obs_url.Check.UNKNOWN_KEY:
            obs_error(ex, 403, "InvalidAccessKeyId", "The OBS access key Id you provided does"
                      " not exist in our records.")
        elif verdict is obs_url.Check.EXPIRED:
            self.expired(ex)
        else:
            obs_error(ex, 403, "SignatureDoesNotMatch", "The request signature we calculated"
                      " does not match the signature you provided. Check your key and signing"
                      " method.", extra={"StringToSign": expected})
        return False

    def expired(self, ex: Exchange) -> None:
        obs_error(ex, 403, "AccessDenied", "Request has expired",
                  extra={"Expires": ex.param("Expires") or "",
                         "ServerTime": iso_time(self.clock())})

    def handle(self, ex: Exchange, bucket: str, key: str, *, s3: bool) -> None:
        """Run an object-level operation (``ex.operation`` already set)."""
        ns = S3_NS if s3 else OBS_NS
        try:
            {
                "obs_put": self.put_object,
                "obs_initiate": self.initiate,
                "obs_part": self.put_part,
                "obs_list": self.list_parts,
                "obs_complete": self.complete,
                "obs_abort": self.abort,
                "obs_get": self.get_object,
                "obs_head": self.get_object,
                "obs_delete": self.delete_object,
            }[ex.operation](ex, bucket, key, ns)
        except StoreError as err:
            obs_error(ex, err.status, err.code, err.message)

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def _content_md5(ex: Exchange) -> bytes | None:
        value = ex.header("Content-MD5")
        if value is None:
            return None
        try:
            digest = base64.b64decode(value, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != 16:
            raise StoreError(400, "InvalidDigest", "The Content-MD5 you specified is not"
                             " valid.")
        return digest

    @staticmethod
    def _need_length(ex: Exchange, limit: int) -> None:
        if ex.content_length is None:
            ex.close_after()
            raise StoreError(411, "MissingContentLength", "You must provide the"
                             " Content-Length HTTP header.")
        if ex.content_length > limit:
            ex.close_after()
            raise StoreError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum"
                             " allowed object size.")

    @staticmethod
    def _metadata(ex: Exchange) -> dict[str, str]:
        return {k.lower(): v for k, v in ex.headers.items()
                if k.lower().startswith(META_PREFIXES)}

    def _object_headers(self, meta: ObjectMeta) -> dict[str, str]:
        headers = {"ETag": meta.etag, "Last-Modified": http_time(meta.last_modified),
                   "Content-Type": meta.content_type or "binary/octet-stream",
                   "Accept-Ranges": "bytes"}
        headers.update(meta.metadata)
        return headers

    # -- operations ----------------------------------------------------------------
    def put_object(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        self._need_length(ex, MAX_SINGLE_PUT)
        claimed = self._content_md5(ex)
        self.store.object_file(bucket, key)  # validates the key before taking the body
        body = ex.receive(self.store.tmp_dir)
        expected = self.store.expected_md5(bucket, key)
        wanted = [claimed] if claimed is not None else []
        if expected is not None:
            wanted.append(base64.b64decode(expected))
        if any(digest != body.md5 for digest in wanted):
            body.path.unlink(missing_ok=True)
            raise StoreError(400, "BadDigest", "The Content-MD5 you specified did not match"
                             " what we received.")
        meta = self.store.put(bucket, key, body, ex.header("Content-Type") or "",
                              self._metadata(ex))
        ex.respond(200, headers={"ETag": meta.etag, "x-obs-request-id": ex.request_id})

    def initiate(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        upload = self.store.initiate(bucket, key, ex.header("Content-Type") or "",
                                     self._metadata(ex))
        body = element("InitiateMultipartUploadResult",
                       {"Bucket": bucket, "Key": key, "UploadId": upload.upload_id}, ns)
        ex.respond(200, xml_bytes(body), content_type="application/xml")

    def put_part(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        number_text = ex.param("partNumber") or ""
        if not number_text.isdigit():
            raise StoreError(400, "InvalidArgument", "Part number must be an integer between"
                             " 1 and 10000, inclusive")
        upload = self.store.upload(ex.param("uploadId") or "", bucket, key)
        self._need_length(ex, MAX_SINGLE_PUT)
        claimed = self._content_md5(ex)
        number = int(number_text)
        slot = self.store.part_slot(upload, number, ex.content_length or 0)
        try:
            body = ex.receive(self.store.tmp_dir, into=slot)
            try:
                if claimed is not None and claimed != body.md5:
                    raise StoreError(400, "BadDigest", "The Content-MD5 you specified did not"
                                     " match what we received.")
                part = self.store.put_part(upload, number, body)
            finally:
                if slot is None:
                    body.path.unlink(missing_ok=True)
        finally:
            if slot is not None:
                self.store.release_slot(upload, number)
        ex.respond(200, headers={"ETag": part.etag, "x-obs-request-id": ex.request_id})

    def list_parts(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        upload = self.store.upload(ex.param("uploadId") or "", bucket, key)
        try:
            max_parts = min(1000, int(ex.param("max-parts") or 1000))
            marker = int(ex.param("part-number-marker") or 0)
        except ValueError as err:
            raise StoreError(400, "InvalidArgument", "max-parts and part-number-marker must"
                             " be integers") from err
        if max_parts < 0:
            raise StoreError(400, "InvalidArgument", "max-parts must be >= 0")
        with upload.lock:
            ordered = sorted((p for n, p in upload.parts.items() if n > marker),
                             key=lambda p: p.number)
        page, truncated = ordered[:max_parts], len(ordered) > max_parts
        fields = {
            "Bucket": bucket, "Key": key, "UploadId": upload.upload_id,
            "Initiator": {"ID": "vodwatch-emulator"}, "Owner": {"ID": "vodwatch-emulator"},
            "StorageClass": "STANDARD", "PartNumberMarker": marker,
            "NextPartNumberMarker": page[-1].number if page else marker,
            "MaxParts": max_parts, "IsTruncated": truncated,
            "Part": [{"PartNumber": p.number, "LastModified": iso_time(p.last_modified),
                      "ETag": p.etag, "Size": p.size} for p in page],
        }
        ex.respond(200, xml_bytes(element("ListPartsResult", fields, ns)),
                   content_type="application/xml")

    def complete(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        upload = self.store.upload(ex.param("uploadId") or "", bucket, key)
        try:
            raw = ex.read_body(MAX_COMPLETE_BODY)
        except BodyTooLarge as err:
            ex.close_after()
            raise StoreError(400, "MalformedXML", "The XML you provided is too large.") from err
        meta = self.store.complete(upload, parse_complete(raw))
        fields = {"Location": f"{self.base_url(ex)}/{bucket}/{obs_url.encode_key(key)}",
                  "Bucket": bucket, "Key": key, "ETag": meta.etag}
        ex.respond(200, xml_bytes(element("CompleteMultipartUploadResult", fields, ns)),
                   content_type="application/xml")

    def abort(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        upload = self.store.upload(ex.param("uploadId") or "", bucket, key)
        self.store.abort(upload)
        ex.respond(204)

    def get_object(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        meta = self.store.get(bucket, key)
        if meta is None:
            raise StoreError(404, "NoSuchKey", "The specified key does not exist.")
        headers = self._object_headers(meta)
        start, end = 0, meta.size - 1
        status = 200
        wanted = ex.header("Range")
        if wanted and wanted.startswith("bytes=") and meta.size:
            first, _, last = wanted[6:].split(",")[0].partition("-")
            try:
                if first:
                    start, end = int(first), min(int(last) if last else end, end)
                else:
                    start = max(0, meta.size - int(last))
            except ValueError:
                start, end = 0, meta.size - 1
            if start > end:
                raise StoreError(416, "InvalidRange", "The requested range is not"
                                 " satisfiable")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{meta.size}"
        ex.respond_file(status, self.store.object_file(bucket, key), start, end - start + 1,
                        headers)

    def delete_object(self, ex: Exchange, bucket: str, key: str, ns: str) -> None:
        self.store.delete(bucket, key)
        ex.respond(204)


def parse_complete(raw: bytes) -> list[tuple[int, str]]:
    """(PartNumber, ETag) pairs from a CompleteMultipartUpload body, ignoring namespaces."""
    try:
        root = ET.fromstring(raw)
        listed = []
        for part in root:
            if part.tag.rsplit("}", 1)[-1] != "Part":
                continue
            fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in part}
            listed.append((int(fields["PartNumber"]), fields["ETag"]))
        return listed
    except (ET.ParseError, KeyError, ValueError) as err:
        raise StoreError(400, "MalformedXML", "The XML you provided was not well-formed or"
                         " did not validate against our published schema.") from err
