"""CheckMd5Duplication: which assets already hold a video of this size whose
first 1024 bytes have this MD5 (docs/VOD-CREATE.md §3)."""

from __future__ import annotations

import hashlib
import re

from ..assets import Asset
from ..replies import send_json, vod_error
from ..server import Exchange
from .base import BUCKET, VodBase

# The duplicate check hashes the first 1024 bytes of the file (VOD-CREATE.md §3).
DUPLICATION_HEAD = 1024
_HEX_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


class DuplicationApi(VodBase):
    """``GET /v1.0/{pid}/asset/duplication``."""

    def check_md5_duplication(self, ex: Exchange, pid: str) -> None:
        """CheckMd5Duplication: assets whose stored video has this size and head MD5 (hex)."""
        size, md5 = ex.param("size"), ex.param("md5")
        if size is None or not size.isdigit():
            vod_error(ex, 400, "VOD.10053", "size (is required, a whole number of bytes)")
            return
        if md5 is None or not _HEX_MD5.match(md5):
            vod_error(ex, 400, "VOD.10053", "md5 (is required, the hex MD5 of the first"
                      " 1024 bytes of the file)")
            return
        wanted = md5.lower()
        with self.book.lock:
            ids = [a.asset_id for a in self.book.all()
                   if a.status != "DELETED" and self._head_md5(a, int(size)) == wanted]
        send_json(ex, 200, {"is_duplicated": 1 if ids else 0, "asset_ids": ids})

    def _head_md5(self, asset: Asset, size: int) -> str | None:
        if asset.video is None:
            return None
        meta = self.store.get(BUCKET, asset.video["key"])
        if meta is None or meta.size != size:
            return None
        with self.store.object_file(BUCKET, asset.video["key"]).open("rb") as f:
            return hashlib.md5(f.read(DUPLICATION_HEAD)).hexdigest()
