"""Local Huawei Cloud VOD + OBS-style object store, for trying and testing vodwatch.

In-process (tests)::

    with Emulator(tmp_path, assets="strict") as emu:   # listens on 127.0.0.1, random port
        emu.seed_asset("a1" * 16, "UPLOAD_FAILED")
        ...  # point the client at emu.url, AK/SK DEFAULT_AK / DEFAULT_SK
        assert emu.confirms("a1" * 16) == ["CREATED"]

As a program: ``python -m vodwatch.emulator --port 8090`` (``main(argv)``).

VOD APIs (AK/SK ``SDK-HMAC-SHA256`` checked; 401 APIGW.0301, or APIGW.0303 when
``X-Sdk-Date`` is more than 15 minutes off; 403 VOD.10057 when a project ID was
configured and the path names another one):

- ``PUT /v1.0/{pid}/asset`` UpdateAsset. Video only in UPLOAD_FAILED, CANCELLED,
  SERVER_ERROR (else 403 VOD.10061); the asset then becomes CREATING. Cover and
  subtitle updates in any state but DELETED. Each video update gets a new key
  ``{pid}/{asset_id}/{32 hex}.{type}``.
- ``POST /v1.0/{pid}/asset/status/uploaded`` confirm: only in CREATING (else 403
  VOD.10126). CREATED also needs the video object to exist (else 403 VOD.10126).
  CREATED -> CREATED, FAILED -> UPLOAD_FAILED, CANCELLED -> CANCELLED.
- ``GET /v1.1/{pid}/asset/authority``: only while the asset owning ``object_key``
  is CREATING (else 403 VOD.10135); ``object_key`` must be the asset's current
  video key (else 400 VOD.10053); unknown asset 403 VOD.10062.
- ``GET /v1.0/{pid}/asset/info``, ``GET /v1.0/{pid}/asset/details``.
- ``POST /v1.0/{pid}/asset`` CreateAssetByFileUpload (docs/VOD-CREATE.md): body
  rules as documented (400 VOD.10053 naming the field); an unknown category_id
  403 VOD.10064 (``emu.add_category(id, name)``; -1 "Other" always exists). The new
  asset is CREATING, keeps title/description/category/tags, and gets the same
  URLs UpdateAsset would give plus ``target``; with ``auto_publish: 1`` a confirm
  CREATED makes it PUBLISHED. ``emu.assets_created()`` lists every creation that
  took effect (also those whose answer a fault lost).
- ``GET /v1.0/{pid}/asset/list`` ListAssetList: asset_id/status/media_type
  (repeated or comma-joined), start_time/end_time (yyyymmddhhmmss UTC, on
  create_time, inclusive), category_id, tags (all must match), query_string
  (case-insensitive substring of title, description, category name), page/size,
  order (desc = newest first, the default). Brief records with asset_status.
- ``GET /v1.0/{pid}/asset/duplication?size=&md5=`` CheckMd5Duplication: md5 is the
  hex MD5 of the first 1024 bytes; matches uploaded videos of that size.

Signed URLs are path style on the emulator's URL, bucket ``vod-bucket-emu``; the
object store checks their V2 signature (403 SignatureDoesNotMatch, with the
expected StringToSign in the body) and expiry (403 AccessDenied "Request has
expired", checked before the signature).

Faults (``emu.add_fault(kind, target, count=1, **params)``, count None = until
cleared; targets: update_asset, confirm, authority, asset_info, asset_details,
create_asset, obs_put, obs_part, obs_initiate, obs_complete, obs_list, obs_abort,
list_assets, check_md5_duplication, obs_get, obs_head, obs_delete, obs_bucket,
any):

- ``status``: ``status=`` 500/502/503/504/403/429, optional ``code``, ``message``,
  ``retry_after`` (seconds, sent as Retry-After). VOD bodies: 500 VOD.10051,
  502/503/504 APIGW.0201, 403 VOD.10127, 429 APIGW.0308 (+request_id). Object
  store: XML InternalError/BadGateway/ServiceUnavailable/GatewayTimeout/...
- ``reset``: the connection is dropped with a TCP reset. ``after_bytes=N`` reads
  N body bytes first; ``phase="response"`` carries the request out (state
  changes, objects stored) and drops the answer instead.
- ``slow``: ``delay=`` seconds before the request is handled.
- ``hang``: the body is read, then no answer until the client hangs up (or the
  emulator stops).
- ``lag``: on create_asset only; the asset the next create makes stays out of
  ListAssetList for ``delay=`` seconds (a list index behind the create).
- ``expired``: on update_asset/authority/create_asset (or "any"), the URLs of the
  next answer carry an Expires already past; on an obs_* target the next such
  request is refused as expired whatever its Expires says.

Rate limits: ``limits={"update_asset": (100, 60.0), "upload": (1500, 60.0),
"query": (1500, 60.0), "upload_other": (100, 60.0)}`` (upload = authority +
confirm + create; query = info + details + list; upload_other = duplication
check), sliding window; excess -> 403 VOD.10127 or, with
``throttle_code="APIGW.0308"``, 429 APIGW.0308 with Retry-After.

Control API (JSON, not authenticated; for an emulator in another process):

- ``GET /_emulator/requests[?since=N]`` -> {"requests": [...]}; DELETE clears
- ``GET /_emulator/assets``; ``POST /_emulator/assets {asset_id, status}``
  (status "absent" deletes); ``GET /_emulator/assets/{id}`` (404 if unknown)
- ``GET /_emulator/confirms/{id}`` -> {"asset_id", "confirms": [...]}
- ``GET /_emulator/created`` -> {"assets": [...]} (assets_created());
  ``POST /_emulator/categories {category_id, name}``
- ``GET /_emulator/objects`` -> {"objects": [...], "uploads": [...]}
- ``GET|POST|DELETE /_emulator/faults`` (POST body: {kind, target, count, ...params})
- ``POST /_emulator/offline {seconds}``: answer, go offline, come back after N s
- ``POST /_emulator/limits {group, count, seconds}``; ``GET /_emulator/stats``

State (assets, metadata, uploads in progress) lives in memory; object bytes live
under ``data_dir/objects/{bucket}/{key}``.
"""

from .command import main
from .core import DEFAULT_AK, DEFAULT_SK, Emulator, Recorded

__all__ = ["DEFAULT_AK", "DEFAULT_SK", "Emulator", "Recorded", "main"]
