"""Limits shared by the tenant's daemons: each paces at its share, re-divided as peers
come and go; throttling halves the rate (multiplicative decrease) and it climbs back
linearly (additive increase); a throttle is told to the peers through the share."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_pacing import FakeClock, grant_times, most_in_any_window
from vodwatch.claim import Claims
from vodwatch.pacing import Pacer, TokenBucket
from vodwatch.tenant import THROTTLE_FILE, Tenant


class Limits:
    update_asset_per_minute = 90.0
    upload_calls_per_minute = 1400.0
    asset_query_per_minute = 1400.0


def test_each_daemon_paces_at_its_share_of_the_tenant_limit() -> None:
    clock = FakeClock()
    bucket = TokenBucket(90, clock=clock, sleep=clock.sleep)
    bucket.share(3)
    assert bucket.per_minute == 30.0 and bucket.limit == 90.0 and bucket.burst == 1
    times = grant_times(bucket, clock, 200)
    assert most_in_any_window(times) <= 30
    assert abs((times[-1] - times[100]) / 99 - 2.0) < 0.01  # 30/min: one call per 2 s
    assert bucket.state().daemons == 3 and bucket.state().current_per_minute == 30.0


def test_share_is_re_divided_when_a_peer_appears_and_when_it_dies() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)
    before = grant_times(bucket, clock, 60)  # alone: the whole limit
    bucket.share(2)  # a peer appears: the calls of the last minute still count
    after = grant_times(bucket, clock, 60)
    assert most_in_any_window(before + after) <= 60
    assert most_in_any_window(after) <= 30
    assert after[0] - before[-1] > 25  # waits until the window is below its new share
    bucket.share(1)  # the peer died
    alone = grant_times(bucket, clock, 120)
    assert abs((alone[-1] - alone[60]) / 59 - 1.0) < 0.01  # back to 60/min


def test_aimd_halves_on_each_throttle_and_climbs_back_linearly() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep, recover_seconds=60)
    bucket.throttled(None)
    pause = bucket.state().paused_for
    assert pause == 1.0
    clock.sleep(pause)
    assert bucket.state().current_per_minute == 30.0  # multiplicative decrease
    clock.sleep(0.5)
    bucket.throttled(None)  # again, while recovering: half of the rate now
    clock.sleep(bucket.state().paused_for)
    low = bucket.state().current_per_minute
    assert 15.0 <= low < 16.0
    clock.sleep(30)
    mid = bucket.state().current_per_minute
    clock.sleep(15)
    later = bucket.state().current_per_minute
    assert abs((later - mid) - (mid - low) / 2) < 0.01  # additive: a straight line
    clock.sleep(15)
    assert bucket.state().current_per_minute == 60.0


def test_live_peers_set_the_share_and_a_reload_keeps_it(tmp_path: Path) -> None:
    clock = FakeClock()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mine = Claims(inbox, "alpha-1", 4.0, clock=clock)
    peer = Claims(inbox, "beta-2", 4.0, clock=clock)
    mine.prepare()
    peer.prepare()
    tenant = Tenant("alpha-1")
    pacer = tenant.attach(Pacer.from_limits(Limits(), clock=clock, sleep=clock.sleep))
    mine.dead_owners()  # what keep_lease does: look at the peers' leases
    tenant.turn(clock(), [mine])
    assert tenant.daemons == 2 and pacer["update_asset"].per_minute == 45.0
    again = tenant.attach(Pacer.from_limits(Limits(), clock=clock, sleep=clock.sleep))
    assert again["upload"].per_minute == 700.0  # a reload's new pacer: still shared
    clock.sleep(5)  # the peer's lease did not change for a whole lease: it is dead
    mine.dead_owners()
    tenant.turn(clock(), [mine])
    assert tenant.daemons == 1 and again["update_asset"].per_minute == 90.0


def test_a_throttle_seen_by_one_daemon_slows_the_others(tmp_path: Path) -> None:
    root = tmp_path / ".vodwatch"
    root.mkdir()
    wall = [1_000_000.0]
    clock = FakeClock()
    told, heard = Tenant("alpha-1", wall=lambda: wall[0]), Tenant("beta-2", wall=lambda: wall[0])
    a = told.attach(Pacer.from_limits(Limits(), clock=clock, sleep=clock.sleep))
    b = heard.attach(Pacer.from_limits(Limits(), clock=clock, sleep=clock.sleep))
    heard.exchange([root])  # the first look is the baseline: nothing there yet
    told.throttled("update_asset", 3.0)
    told.exchange([root])
    assert json.loads((root / THROTTLE_FILE).read_text()) == {
        "by": "alpha-1", "at": 1_000_000.0, "group": "update_asset", "retry_after": 3.0}
    assert a.state()["update_asset"].throttles == 0  # the teller was paused by its own call
    heard.exchange([root])
    assert b.state()["update_asset"].throttles == 1 and heard.heard == 1
    assert b.state()["update_asset"].paused_for == 3.0
    heard.exchange([root])  # the same news twice is applied once
    assert heard.heard == 1
    late = Tenant("gamma-3", wall=lambda: wall[0])
    late.exchange([root])  # a throttle from before it started is old news
    assert late.heard == 0
    wall[0] += 500
    told.throttled("upload", None)
    told.exchange([root])
    (root / THROTTLE_FILE).write_text(json.dumps({"by": "alpha-1", "at": 1.0,
                                                  "group": "upload", "retry_after": None}))
    heard.exchange([root])  # a stale one (by our clock) is not believed
    assert heard.heard == 1
