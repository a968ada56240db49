"""The unauthenticated control API under ``/_emulator/`` (JSON in, JSON out).

Lets a test drive an emulator running in another process; see the package
docstring for the list of endpoints.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from .replies import send_json
from .server import BodyTooLarge, Exchange

if TYPE_CHECKING:
    from .core import Emulator


def _body(ex: Exchange) -> Any:
    try:
        raw = ex.read_body(1024 * 1024)
        return json.loads(raw) if raw else {}
    except (BodyTooLarge, ValueError) as err:
        ex.close_after()
        raise ValueError("the body must be a JSON object") from err


def handle(emu: Emulator, ex: Exchange) -> None:
    """Answer one control request; errors are ``{"error": "..."}`` with 400/404."""
    ex.operation = "control"
    parts = [p for p in ex.path.split("/") if p][1:]  # drop "_emulator"
    try:
        reply = _route(emu, ex, parts)
    except (ValueError, TypeError) as err:
        send_json(ex, 400, {"error": str(err)})
        return
    if reply is None:
        send_json(ex, 404, {"error": f"no control endpoint {ex.method} {ex.path}"})
    else:
        send_json(ex, 200, reply)


def _route(emu: Emulator, ex: Exchange, parts: list[str]) -> Any:
    method = ex.method
    if parts == ["requests"] and method == "GET":
        since = int(ex.param("since") or 0)
        return {"requests": [r.to_dict() for r in emu.requests[since:]]}
    if parts == ["requests"] and method == "DELETE":
        emu.clear_requests()
        return {}
    if parts == ["assets"] and method == "GET":
        return {"assets": emu.assets()}
    if parts == ["assets"] and method == "POST":
        body = _body(ex)
        if not isinstance(body, dict) or not isinstance(body.get("asset_id"), str):
            raise ValueError("asset_id is required")
        asset = emu.seed_asset(body["asset_id"], str(body.get("status", "UPLOAD_FAILED")))
        return {"asset": asset}
    if len(parts) == 2 and parts[0] == "assets" and method == "GET":
        asset = emu.asset(parts[1])
        return None if asset is None else {"asset": asset}
    if parts == ["created"] and method == "GET":
        return {"assets": emu.assets_created()}
    if parts == ["categories"] and method == "POST":
        body = _body(ex)
        if not isinstance(body, dict) or "category_id" not in body:
            raise ValueError("category_id is required")
        emu.add_category(int(body["category_id"]), str(body.get("name", "")))
        return {}
    if len(parts) == 2 and parts[0] == "confirms" and method == "GET":
        return {"asset_id": parts[1], "confirms": emu.confirms(parts[1])}
    if parts == ["objects"] and method == "GET":
        return {"objects": emu.objects(), "uploads": emu.uploads()}
    if parts == ["faults"] and method == "GET":
        return {"faults": emu.faults()}
    if parts == ["faults"] and method == "POST":
        body = _body(ex)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        params = dict(body)
        kind, target = params.pop("kind", None), params.pop("target", "any")
        count = params.pop("count", 1)
        return {"id": emu.add_fault(str(kind), str(target), count, **params)}
    if parts == ["faults"] and method == "DELETE":
        emu.clear_faults()
        return {}
    if parts == ["offline"] and method == "POST":
        body = _body(ex)
        seconds = float(body.get("seconds", 5)) if isinstance(body, dict) else 5.0
        if not 0 < seconds <= 3600:
            raise ValueError("seconds must be in (0, 3600]")
        # Answer first, then drop off the network, then come back by ourselves.
        threading.Thread(target=_offline_for, args=(emu, seconds), daemon=True).start()
        return {"offline_seconds": seconds}
    if parts == ["limits"] and method == "POST":
        body = _body(ex)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        emu.set_limit(str(body.get("group")), int(body["count"]), float(body["seconds"]))
        return {}
    if parts == ["stats"] and method == "GET":
        return {"throttled": emu.throttled_count(), "requests": len(emu.requests)}
    return None


def _offline_for(emu: Emulator, seconds: float) -> None:
    # Give the answer to the offline request time to leave before the connections drop.
    threading.Event().wait(0.2)
    emu.go_offline()
    threading.Event().wait(seconds)
    emu.go_online()
