"""Two daemons of one tenant on one share pace at their share of the tenant's limit:
the emulator, enforcing that limit, answers no call with throttling."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import visible

ASSETS = 25
LIMIT = 60  # limits.update_asset_per_minute, the same in both configs: the tenant's
# The emulator allows 20 UpdateAsset in any 10 s. Sharing, the two daemons send at most
# 2 x (burst 2 + 10 s x 0.5/s) = 14 in 10 s; each at the whole limit they would send up
# to 2 x (burst 5 + 10 s x 1/s) = 30, and be throttled.
WINDOW_COUNT, WINDOW = 20, 10.0


def test_two_daemons_share_the_tenant_limit_without_a_throttle(
        setup: Setup, daemon_factory, tmp_path: Path) -> None:
    configs = []
    for who in ("alpha", "beta"):
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 2},
                           upload={"workers": 4},
                           limits={"update_asset_per_minute": LIMIT})
        path = setup.root / f"{who}.yaml"
        os.replace(setup.config_path, path)
        configs.append(path)
    setup.emulator.set_limit("update_asset", WINDOW_COUNT, WINDOW)
    alpha = daemon_factory(name="alpha", config=configs[0])
    beta = daemon_factory(name="beta", config=configs[1])
    for d in (alpha, beta):
        wait_for(lambda d=d: '"daemons": 2' in d.output(), 20, what="each sees the other")
    staging = tmp_path / "staging"
    staging.mkdir()
    names = []
    for i in range(ASSETS):
        aid = asset_id(7400 + i)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        name = f"{aid}.cover.jpg"
        write_bytes(staging / name, 3000, name)
        names.append(name)
    for name in names:
        os.replace(staging / name, setup.inbox / name)
    wait_for(lambda: set(names) <= visible(setup.done), 50, interval=0.2,
             what="every cover in done/")
    assert alpha.stop() == 0 and beta.stop() == 0
    updates = [r for r in setup.emulator.requests if r.operation == "update_asset"]
    assert setup.emulator.throttled_count() == 0
    assert len(updates) == ASSETS and all(r.status == 200 for r in updates)
    assert visible(setup.failed) == set()
