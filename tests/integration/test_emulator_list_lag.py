"""The emulator's "lag" fault: a created asset that ListAssetList does not show yet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vodwatch.emulator import Emulator
from vodwatch.emulator.testing import VodCaller, md5_b64


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # requests are signed with the real time

    def __call__(self) -> float:
        return self.now


def test_a_lagging_create_is_listed_only_after_its_delay(tmp_path: Path) -> None:
    clock = Clock()
    with Emulator(tmp_path / "data", clock=clock) as emu, VodCaller(emu.url) as vod:
        emu.add_fault("lag", "create_asset", 1, delay=30)
        body = {"title": "Lagging", "video_name": "Lagging.mp4", "video_type": "MP4",
                "video_md5": md5_b64(b"x" * 2000), "tags": "vw0123456789ab"}
        made = vod.create_asset(body).json()["asset_id"]
        on_time = vod.create_asset({**body, "title": "On time"}).json()["asset_id"]

        def listed() -> list[str]:
            reply = vod.list_assets(tags="vw0123456789ab", size=100)
            assert reply.status_code == 200, reply.text
            return sorted(a["asset_id"] for a in reply.json()["assets"])

        assert listed() == [on_time]  # the fault was used up by the first create
        assert emu.asset(made) is not None  # it exists: only the list does not show it
        clock.now += 29
        assert listed() == [on_time]
        clock.now += 2
        assert listed() == sorted([made, on_time])


@pytest.mark.parametrize("target", ["list_assets", "update_asset", "any"])
def test_a_lag_fault_is_only_for_create(emu: Emulator, target: str) -> None:
    with pytest.raises(ValueError, match="create_asset"):
        emu.add_fault("lag", target)
