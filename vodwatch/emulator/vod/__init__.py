"""The emulator's VOD API: one object answering every routed VOD call.

``VodApi`` puts together the gate (body, AK/SK, project; gate.py) and one
handler per concern: update.py (UpdateAsset, confirm), create.py
(CreateAssetByFileUpload), authority.py (multipart URLs), queries.py (info,
details), listing.py (ListAssetList), duplication.py (CheckMd5Duplication).
core.py routes a request and calls ``getattr(api, operation)(ex, pid)``.
"""

from __future__ import annotations

from .authority import AuthorityApi
from .base import BUCKET, LOCATION, VodBase, VodSettings
from .create import CreateApi
from .duplication import DuplicationApi
from .gate import VodGate
from .listing import ListApi
from .queries import QueryApi
from .update import UpdateApi


class VodApi(VodGate, UpdateApi, CreateApi, AuthorityApi, QueryApi, ListApi, DuplicationApi):
    """Answers VOD calls once routed; ``operation`` names which one."""


__all__ = ["BUCKET", "LOCATION", "VodApi", "VodBase", "VodSettings"]
