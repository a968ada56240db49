"""Multipart authority: signed object-store URLs for initiating, uploading parts
of, completing and aborting the upload of a CREATING asset's video."""

from __future__ import annotations

from ...vod import obs_url
from ..assets import UPLOADING
from ..bodies import Invalid, md5_field
from ..replies import send_json, vod_error
from ..server import Exchange
from .base import BUCKET, VodBase


class AuthorityApi(VodBase):
    """``GET /v1.1/{pid}/asset/authority``."""

    def authority(self, ex: Exchange, pid: str) -> None:
        verb = (ex.param("http_verb") or "").upper()
        bucket, key = ex.param("bucket") or "", ex.param("object_key") or ""
        upload_id = ex.param("upload_id") or ""
        for name, value in (("http_verb", verb), ("bucket", bucket), ("object_key", key)):
            if not value:
                vod_error(ex, 400, "VOD.10053", f"{name} (is required)")
                return
        if verb not in ("PUT", "POST", "GET", "DELETE"):
            vod_error(ex, 400, "VOD.10053", "http_verb (must be PUT, POST, GET or DELETE)")
            return
        if bucket != BUCKET:
            vod_error(ex, 400, "VOD.10053", f"bucket (must be {BUCKET})")
            return
        content_md5 = ex.param("content_md5") or ""
        if content_md5:
            try:
                md5_field({"content_md5": content_md5}, "content_md5")
            except Invalid as err:
                vod_error(ex, 400, "VOD.10053", str(err))
                return
        segments = key.split("/")
        with self.book.lock:
            asset = self.book.get(segments[1]) if len(segments) > 2 else None
            if asset is None:
                vod_error(ex, 403, "VOD.10062", f"no asset owns object {key}")
                return
            if asset.status != UPLOADING:
                vod_error(ex, 403, "VOD.10135", f"asset {asset.asset_id} is {asset.status}")
                return
            if asset.video is None or asset.video["key"] != key:
                vod_error(ex, 400, "VOD.10053", "object_key (is not the asset's video object)")
                return
        signed = self._authority_request(ex, verb, upload_id, content_md5)
        if signed is None:
            return
        content_type, md5, subresources = signed
        url = obs_url.make_signed_url(
            base_url=self.base_url(ex), bucket=bucket, key=key, ak=self.s.obs_ak,
            sk=self.s.obs_sk, verb=verb, expires=self._expires(ex), content_type=content_type,
            content_md5=md5, subresources=subresources)
        send_json(ex, 200, {"sign_str": url})

    @staticmethod
    def _authority_request(ex: Exchange, verb: str, upload_id: str, content_md5: str,
                           ) -> tuple[str, str, list[tuple[str, str | None]]] | None:
        """What gets signed: (Content-Type, Content-MD5, sub-resources) per operation."""
        if verb == "POST" and not upload_id:
            content_type = ex.param("content_type") or ""
            if not content_type:
                vod_error(ex, 400, "VOD.10053", "content_type (is required to initiate)")
                return None
            return content_type, "", [("uploads", None)]
        if not upload_id:
            vod_error(ex, 400, "VOD.10053", "upload_id (is required)")
            return None
        if verb == "PUT":
            number = ex.param("part_number") or ""
            if not number.isdigit() or not 1 <= int(number) <= 10_000:
                vod_error(ex, 400, "VOD.10053", "part_number (must be 1 to 10000)")
                return None
            return ("application/octet-stream", content_md5,
                    [("partNumber", str(int(number))), ("uploadId", upload_id)])
        content_type = "application/xml" if verb == "POST" else ""
        return content_type, "", [("uploadId", upload_id)]
