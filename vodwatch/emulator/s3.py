"""S3 compatibility (``--s3-compat``): enough of the S3 API for ``rclone copyto``.

Requests carrying ``Authorization: AWS4-HMAC-SHA256 ...`` are accepted without
checking the signature. Object and multipart operations are the OBS ones; this
module adds the bucket-level calls (list buckets, head/create bucket, list objects).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .obs import iso_time
from .replies import S3_NS, element, obs_error, xml_bytes
from .server import Exchange
from .store import ObjectStore, StoreError, check_key

OWNER = {"ID": "vodwatch-emulator", "DisplayName": "vodwatch-emulator"}


def is_s3_request(ex: Exchange) -> bool:
    """True when the request is signed the AWS way (header or presigned query)."""
    auth = ex.header("Authorization") or ""
    return auth.startswith(("AWS4-HMAC-SHA256", "AWS ")) or ex.has_param("X-Amz-Signature")


class S3Buckets:
    """Bucket-level S3 calls; buckets exist as soon as anyone names them."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def handle(self, ex: Exchange, bucket: str) -> None:
        try:
            self._handle(ex, bucket)
        except StoreError as err:
            obs_error(ex, err.status, err.code, err.message)

    def _handle(self, ex: Exchange, bucket: str) -> None:
        if not bucket:
            if ex.method != "GET":
                raise StoreError(405, "MethodNotAllowed", "The specified method is not"
                                 " allowed against this resource.")
            self.list_buckets(ex)
            return
        check_key(bucket)
        if ex.method == "HEAD":
            ex.respond(200, headers={"x-amz-bucket-region": "us-east-1"})
        elif ex.method == "PUT":
            self.store.make_bucket(bucket)
            ex.respond(200, headers={"Location": f"/{bucket}"})
        elif ex.method == "DELETE":
            ex.respond(204)
        elif ex.method == "GET" and ex.has_param("location"):
            body = element("LocationConstraint", ns=S3_NS)
            ex.respond(200, xml_bytes(body), content_type="application/xml")
        elif ex.method == "GET":
            self.list_objects(ex, bucket)
        else:
            raise StoreError(405, "MethodNotAllowed", "The specified method is not allowed"
                             " against this resource.")

    def list_buckets(self, ex: Exchange) -> None:
        buckets = [{"Name": name, "CreationDate": iso_time(0)} for name in self.store.buckets()]
        body = element("ListAllMyBucketsResult",
                       {"Owner": OWNER, "Buckets": {"Bucket": buckets}}, S3_NS)
        ex.respond(200, xml_bytes(body), content_type="application/xml")

    def list_objects(self, ex: Exchange, bucket: str) -> None:
        """ListObjects (v1) or ListObjectsV2 (``list-type=2``), with prefix/delimiter paging."""
        v2 = ex.param("list-type") == "2"
        prefix = ex.param("prefix") or ""
        delimiter = ex.param("delimiter") or ""
        url_encode = ex.param("encoding-type") == "url"
        try:
            max_keys = max(0, min(1000, int(ex.param("max-keys") or 1000)))
        except ValueError as err:
            raise StoreError(400, "InvalidArgument", "max-keys must be an integer") from err
        if v2:
            after = ex.param("continuation-token") or ex.param("start-after") or ""
        else:
            after = ex.param("marker") or ""

        def enc(text: str) -> str:
            return quote(text, safe="/") if url_encode else text

        contents: list[dict[str, Any]] = []
        prefixes: list[str] = []
        last = ""
        truncated = False
        for meta in self.store.list_objects(bucket, prefix):
            if meta.key <= after:
                continue
            rest = meta.key[len(prefix):]
            if delimiter and delimiter in rest:
                common = prefix + rest[:rest.index(delimiter) + len(delimiter)]
                if common in prefixes or common <= after:
                    continue
                if len(contents) + len(prefixes) >= max_keys:
                    truncated = True
                    break
                prefixes.append(common)
                last = common
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            contents.append({"Key": enc(meta.key), "LastModified": iso_time(meta.last_modified),
                             "ETag": meta.etag, "Size": meta.size, "StorageClass": "STANDARD",
                             "Owner": OWNER})
            last = meta.key
        fields: dict[str, Any] = {"Name": bucket, "Prefix": enc(prefix), "MaxKeys": max_keys,
                                  "IsTruncated": truncated}
        if delimiter:
            fields["Delimiter"] = enc(delimiter)
        if url_encode:
            fields["EncodingType"] = "url"
        if v2:
            fields["KeyCount"] = len(contents) + len(prefixes)
            if ex.param("continuation-token"):
                fields["ContinuationToken"] = ex.param("continuation-token")
            if truncated:
                fields["NextContinuationToken"] = last
        else:
            fields["Marker"] = enc(after)
            if truncated:
                fields["NextMarker"] = enc(last)
        fields["Contents"] = contents
        fields["CommonPrefixes"] = [{"Prefix": enc(p)} for p in prefixes]
        body = element("ListBucketResult", fields, S3_NS)
        ex.respond(200, xml_bytes(body), content_type="application/xml")
