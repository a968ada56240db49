"""Pacing (SPEC §4a): never more calls per minute than the limit, and slow down when told."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vodwatch import pacing
from vodwatch.pacing import GROUPS, Pacer, TokenBucket, default_burst
from vodwatch.retry import RETRY_AFTER_CAP


class FakeClock:
    """Time that passes only when someone sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def most_in_any_window(times: list[float], window: float = 60.0) -> int:
    """The largest number of times inside any closed window of `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] < t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def grant_times(bucket: TokenBucket, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        assert bucket.acquire()
        times.append(clock())
    return times


@pytest.mark.parametrize(("per_minute", "burst"), [(90, 5), (1400, 5), (100, 5), (30, 3),
                                                   (10, 1), (5, 1), (1, 1)])
def test_default_burst_is_small(per_minute: float, burst: int) -> None:
    """The default burst is a tenth of the limit, between 1 and 5."""
    assert default_burst(per_minute) == burst


def test_a_thousand_files_never_exceed_the_update_limit_in_any_minute() -> None:
    """1000 UpdateAsset calls at 90/min: no 60 s window sees more than 90, and no dawdling."""
    clock = FakeClock()
    bucket = TokenBucket(90, clock=clock, sleep=clock.sleep)
    times = grant_times(bucket, clock, 1000)
    assert most_in_any_window(times) <= 90
    # After the first burst of 5 the calls go at the full configured rate, 1.5 a second.
    assert times[-1] - times[0] == pytest.approx((1000 - 5) / 90 * 60, rel=1e-6)


def test_first_calls_go_at_once_up_to_the_burst() -> None:
    """A fresh bucket lets `burst` calls through without waiting, then paces."""
    clock = FakeClock()
    bucket = TokenBucket(1400, clock=clock, sleep=clock.sleep)
    assert grant_times(bucket, clock, 5) == [1000.0] * 5
    assert not bucket.try_acquire()
    assert bucket.acquire() and clock() > 1000.0


@dataclass(frozen=True)
class Step:
    idle: float
    calls: int
    throttle: float | None  # Retry-After of a throttle report after the calls, or no report
    report: bool


STEPS = st.lists(st.builds(
    Step,
    idle=st.floats(0, 200),
    calls=st.integers(0, 60),
    throttle=st.one_of(st.none(), st.floats(0, 90)),
    report=st.booleans(),
), max_size=12)


@settings(max_examples=60, deadline=None)
@given(per_minute=st.one_of(st.integers(1, 2000), st.floats(1, 2000)),
       burst=st.one_of(st.none(), st.integers(1, 5)), steps=STEPS)
def test_no_minute_ever_sees_more_than_the_limit(per_minute: float, burst: int | None,
                                                 steps: list[Step]) -> None:
    """Whatever the limit, idle gaps and throttling, any 60 s window stays within the limit."""
    if burst is not None and burst > per_minute / 2:
        burst = None  # an explicit burst above half the limit voids the guarantee
    clock = FakeClock()
    bucket = TokenBucket(per_minute, burst, clock=clock, sleep=clock.sleep)
    times: list[float] = []
    for step in steps:
        clock.sleep(step.idle)
        times += grant_times(bucket, clock, step.calls)
        if step.report:
            bucket.throttled(step.throttle)
    times += grant_times(bucket, clock, 30)
    assert most_in_any_window(times) <= max(per_minute, 1)


def test_throttle_pauses_the_group_for_retry_after() -> None:
    """After a throttle with Retry-After 5, nobody in the group calls for 5 seconds."""
    clock = FakeClock()
    bucket = TokenBucket(1400, clock=clock, sleep=clock.sleep)
    bucket.throttled(5.0)
    assert not bucket.try_acquire()
    assert bucket.state().paused_for == pytest.approx(5.0)
    assert bucket.acquire()
    assert clock() >= 1005.0


def test_a_retry_after_beyond_the_retry_policys_cap_is_not_believed() -> None:
    """Pacing believes a Retry-After as far as the retry policy does, and no further."""
    clock = FakeClock()
    bucket = TokenBucket(1400, clock=clock, sleep=clock.sleep)
    bucket.throttled(86_400.0)
    assert bucket.state().paused_for == pytest.approx(RETRY_AFTER_CAP)
    assert pacing.RETRY_AFTER_CAP is RETRY_AFTER_CAP, "one cap, in the retry policy"


def test_repeated_throttling_backs_off_exponentially() -> None:
    """Without Retry-After the pause is the group's backoff, doubling while throttling goes on."""
    clock = FakeClock()
    bucket = TokenBucket(1400, clock=clock, sleep=clock.sleep)
    pauses = []
    for _ in range(8):
        bucket.throttled(None)
        pauses.append(bucket.state().paused_for)
        assert bucket.acquire()
    assert pauses == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0])


def test_throttle_halves_the_rate_and_it_recovers_over_a_minute() -> None:
    """The rate drops to half on throttling and climbs back to full after a calm minute."""
    clock = FakeClock()
    bucket = TokenBucket(1400, clock=clock, sleep=clock.sleep)
    full = bucket.state().current_per_minute
    bucket.throttled(10.0)
    assert bucket.state().current_per_minute == pytest.approx(full / 2)
    clock.sleep(10.0 + 30.0)
    assert bucket.state().current_per_minute == pytest.approx(full * 0.75)
    clock.sleep(30.0)
    assert bucket.state().current_per_minute == pytest.approx(full)
    bucket.throttled(None)
    assert bucket.state().paused_for == 1.0  # recovered: the backoff starts over


def test_throttled_calls_sent_before_the_pause_only_extend_it() -> None:
    """Several in-flight calls throttled together count as one slowdown, not five."""
    clock = FakeClock()
    bucket = TokenBucket(1400, clock=clock, sleep=clock.sleep)
    full = bucket.state().current_per_minute
    for _ in range(5):
        bucket.throttled(2.0)
    bucket.throttled(9.0)
    state = bucket.state()
    assert state.throttles == 1 and state.paused_for == pytest.approx(9.0)
    assert state.current_per_minute == pytest.approx(full / 2)


def test_paced_calls_during_recovery_stay_below_the_reduced_rate() -> None:
    """Right after a throttle, calls go at no more than half the rate."""
    clock = FakeClock()
    bucket = TokenBucket(120, clock=clock, sleep=clock.sleep)  # 115/min after the burst
    grant_times(bucket, clock, 5)
    bucket.throttled(0.0)
    start = clock()
    times = grant_times(bucket, clock, 20)
    assert times[0] - start >= 1.0  # the backoff
    in_ten_seconds = len([t for t in times if t <= times[0] + 10.0])
    assert in_ten_seconds <= 1 + 10 * 115 / 60 * 0.6  # full speed would allow 1 + 19


def test_stop_before_waiting_returns_false_without_a_token() -> None:
    """A set stop event makes acquire give up at once and leaves the token in place."""
    clock = FakeClock()
    bucket = TokenBucket(90, clock=clock, sleep=clock.sleep)
    stop = threading.Event()
    stop.set()
    assert bucket.acquire(stop) is False
    assert bucket.state().tokens == 5


def test_stop_while_waiting_returns_false() -> None:
    """A stop set while a caller waits for its turn ends the wait (injected sleep)."""
    clock = FakeClock()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()

    bucket = TokenBucket(90, clock=clock, sleep=sleep)
    bucket.throttled(30.0)
    assert bucket.acquire(stop) is False


def test_stop_interrupts_a_real_wait_promptly() -> None:
    """With real time, a caller paused for minutes is released as soon as stop is set."""
    bucket = TokenBucket(90)
    bucket.throttled(600.0)
    stop = threading.Event()
    timer = threading.Timer(0.05, stop.set)
    started = time.monotonic()
    timer.start()
    try:
        assert bucket.acquire(stop) is False
    finally:
        timer.join()
    assert time.monotonic() - started < 5.0


class VirtualClock:
    """Shared virtual time for threads: a sleeper wakes at its own read time plus the delay."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()

    def __call__(self) -> float:
        with self._lock:
            self._local.last = self._now
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now = max(self._now, self._local.last + seconds)
        time.sleep(0)  # let the other threads run

    def last_read(self) -> float:
        return float(self._local.last)


def test_threads_sharing_a_bucket_never_exceed_the_limit() -> None:
    """Eight real threads drawing 800 tokens never get more than the limit in any minute."""
    clock = VirtualClock()
    bucket = TokenBucket(300, clock=clock, sleep=clock.sleep)
    times: list[float] = []
    times_lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            assert bucket.acquire()
            granted_at = clock.last_read()  # acquire's last clock read is the granting one
            with times_lock:
                times.append(granted_at)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert len(times) == 800 and bucket.state().granted == 800
    assert most_in_any_window(times) <= 300


def test_pacer_builds_the_three_groups_from_the_limits() -> None:
    """from_limits gives update_asset, upload and query buckets with the configured limits."""
    @dataclass(frozen=True)
    class Limits:
        update_asset_per_minute: float = 90
        upload_calls_per_minute: float = 1400
        asset_query_per_minute: float = 1000

    clock = FakeClock()
    pacer = Pacer.from_limits(Limits(), clock=clock, sleep=clock.sleep)
    assert {g: s.per_minute for g, s in pacer.state().items()} == {
        "update_asset": 90, "upload": 1400, "query": 1000}
    assert pacer.acquire("upload")
    pacer.throttled("update_asset", 3.0)
    assert pacer["update_asset"].state().paused_for == pytest.approx(3.0)
    assert pacer["upload"].state().paused_for == 0.0  # groups are independent


def test_pacer_needs_every_group_and_buckets_need_sane_limits() -> None:
    """A pacer missing a group, or a bucket with no limit or burst, is refused."""
    with pytest.raises(ValueError):
        Pacer({"upload": TokenBucket(10)})
    assert set(GROUPS) == {"update_asset", "upload", "query"}
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(10, burst=0)
