"""Part sizes: part_size_for (an explicit upload.part_size_mb, grown so that no file needs
more than 10,000 parts) and choose_part_size (the size that fits the path)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodwatch.partsize import MAX_PARTS, MIN_PART, MiB, choose_part_size, part_size_for

TB = 10**12
TiB = 2**40
GiB = 2**30
OBS_MAX_OBJECT = 48_800 * 10**9  # the store's largest object, 48.8 TB
OBS_MAX_PART = 5 * GiB


def test_the_default_part_size_is_kept_for_ordinary_files() -> None:
    """A 20 MiB preference stays 20 MiB for files that fit in 10,000 such parts."""
    assert part_size_for(21 * MiB, 20 * MiB) == 20 * MiB
    assert part_size_for(10_000 * 20 * MiB, 20 * MiB) == 20 * MiB


def test_one_more_byte_than_ten_thousand_parts_grows_the_part() -> None:
    """A file one byte over 10,000 default parts gets the next whole MiB as part size."""
    assert part_size_for(10_000 * 20 * MiB + 1, 20 * MiB) == 21 * MiB


@pytest.mark.parametrize("size", [TB, TiB])
def test_a_terabyte_file_needs_at_most_ten_thousand_parts(size: int) -> None:
    """For 1 TB (and 1 TiB) the part grows to whole MiB and the count stays <= 10,000."""
    part = part_size_for(size, 20 * MiB)
    assert part % MiB == 0 and part > 20 * MiB
    assert math.ceil(size / part) <= MAX_PARTS
    assert math.ceil(size / (part - MiB)) > MAX_PARTS  # the smallest whole MiB that fits


def test_one_tebibyte_gets_105_mib_parts() -> None:
    """1 TiB / 10,000 is 104.86 MiB, so parts are 105 MiB."""
    assert part_size_for(TiB, 20 * MiB) == 105 * MiB


@pytest.mark.parametrize("preferred", [0, 1, 64 * 1024, MIN_PART - 1])
def test_the_part_is_never_below_100_kb(preferred: int) -> None:
    """A preference below the store's minimum part becomes 100 KiB."""
    assert MIN_PART == 100 * 1024
    assert part_size_for(5 * MiB, preferred) == MIN_PART


def test_an_empty_file_keeps_the_preferred_size() -> None:
    """A zero-byte file needs no growth."""
    assert part_size_for(0, 20 * MiB) == 20 * MiB


@given(size=st.integers(min_value=0, max_value=OBS_MAX_OBJECT),
       preferred=st.integers(min_value=0, max_value=OBS_MAX_PART))
def test_every_size_fits_in_ten_thousand_parts_within_store_limits(size: int,
                                                                   preferred: int) -> None:
    """For any object the store accepts, parts are >= 100 KiB, <= 5 GiB and at most 10,000."""
    part = part_size_for(size, preferred)
    assert part >= MIN_PART
    assert part >= preferred
    assert part <= OBS_MAX_PART
    assert math.ceil(size / part) <= MAX_PARTS


@given(size=st.integers(min_value=1, max_value=200 * 20 * MiB),
       parallel=st.integers(min_value=2, max_value=16))
def test_parallel_parts_get_an_even_last_round(size: int, parallel: int) -> None:
    """With several parts in flight, the part count is a multiple of them and parts stay small."""
    part = part_size_for(size, 20 * MiB, parallel)
    count = -(-size // part)
    plain = -(-size // (20 * MiB))
    assert part <= 20 * MiB
    if plain >= parallel:
        assert part >= MIN_PART
        # Either the rounds are full, or only the rounding of bytes left one short.
        assert count % parallel == 0 or count == plain
    else:
        assert part == 20 * MiB


def test_even_rounds_example() -> None:
    """9 parts of 5 MiB on 4 connections become 12 equal parts: three full rounds."""
    part = part_size_for(45 * MiB, 5 * MiB, 4)
    assert -(-45 * MiB // part) == 12


# ---- choose_part_size: the part size that fits the path (Uploader(adaptive=True)) --------

MB = 10**6
RATE = 25 * MB  # one connection's rate on the emulated WAN


def _rounds(size: int, parallel: int, part: int) -> float:
    return -(-size // part) / parallel


@pytest.mark.parametrize("parallel", [1, 4, 8])
def test_a_longer_round_trip_gets_bigger_parts(parallel: int) -> None:
    """Each part costs one round trip: at 200 ms parts are larger (fewer) than at 40 ms,
    and at 40 ms larger than on loopback."""
    size = 1000 * MiB
    sizes = [choose_part_size(size, parallel, rate=RATE, rtt=rtt, hash_rate=1000 * MB).size
             for rtt in (0.0005, 0.04, 0.2)]
    assert sizes[0] <= sizes[1] < sizes[2]


def test_the_round_trip_is_balanced_against_hashing_the_first_round() -> None:
    """1000 MiB on 8 connections at 40 ms: a few parts per connection, not one (all of the
    first round hashed before the last connection starts) nor dozens (a round trip each)."""
    choice = choose_part_size(1000 * MiB, 8, rate=RATE, rtt=0.04, hash_rate=1200 * MB)
    assert 3 <= _rounds(1000 * MiB, 8, choice.size) <= 8
    assert choice.count % 8 == 0
    assert "40 ms" in choice.reason


def test_a_45_mb_file_still_goes_in_several_parts() -> None:
    """However long the round trip, a file is cut into parallel_parts parts of >= 5 MiB."""
    for rtt in (None, 0.04, 0.2, 2.0):
        choice = choose_part_size(45 * MB, 4, rate=RATE, rtt=rtt)
        assert choice.count == 4
        assert choice.size >= 5 * MiB
    # 8 connections: 8 parts of 5.6 MB, each still >= 5 MiB.
    assert choose_part_size(45 * MB, 8, rate=RATE, rtt=0.2).count == 8
    # Too small for 8 parts of 5 MiB: as many as fit.
    assert choose_part_size(21 * MiB, 8, rtt=0.2).count == 4


def test_parts_are_never_so_small_that_authority_calls_limit_the_upload() -> None:
    """On loopback (fast, no round trip) the parts are raised until the parts' authority
    calls stay within half of the upload-call limit, with room for concurrent uploads."""
    rate = 300 * MB
    for uploads in (1, 4):
        choice = choose_part_size(2048 * MiB, 4, rate=rate, rtt=0.0005, uploads=uploads,
                                  calls_per_minute=1400)
        calls_per_s = 4 * rate / choice.size * uploads
        assert calls_per_s <= 1400 / 60 * 0.5 + 1e-9
        assert "authority" in choice.reason


def test_an_unmeasured_link_keeps_at_least_20_mib() -> None:
    """Before any round trip or rate was seen, parts stay at VOD's 20 MiB or more (a fast
    link at 20 MiB parts stays within the authority limit)."""
    assert choose_part_size(1000 * MiB, 4).size >= 20 * MiB - MiB  # an even count may trim it
    assert choose_part_size(1000 * MiB, 1, rtt=0.0005).size >= 20 * MiB


def test_a_part_takes_at_most_30_seconds_or_1_gib() -> None:
    """Long round trips do not make parts endless: a slow link caps them by time."""
    slow = choose_part_size(100 * 2**30, 1, rate=2 * MB, rtt=0.3)
    assert slow.size <= 60 * MB + MiB
    fast = choose_part_size(100 * 2**30, 1, rate=1000 * MB, rtt=0.3, hash_rate=10**12)
    assert fast.size <= 1024 * MiB


@given(size=st.integers(min_value=1, max_value=OBS_MAX_OBJECT),
       parallel=st.integers(min_value=1, max_value=32),
       rate=st.one_of(st.none(), st.floats(min_value=1e4, max_value=1e10)),
       rtt=st.one_of(st.none(), st.floats(min_value=1e-5, max_value=5.0)),
       uploads=st.integers(min_value=1, max_value=16))
def test_every_choice_is_within_the_stores_rules(size: int, parallel: int, rate: float | None,
                                                 rtt: float | None, uploads: int) -> None:
    """Any size, parallelism and link: >= 100 KiB (unless the file is smaller), <= 5 GiB,
    at most 10,000 parts; and a file big enough for parallel_parts parts of 5 MiB gets
    at least that many parts."""
    choice = choose_part_size(size, parallel, rate=rate, rtt=rtt, uploads=uploads)
    assert choice.size >= MIN_PART
    assert choice.size <= OBS_MAX_PART
    assert choice.count == -(-size // choice.size)
    assert choice.count <= MAX_PARTS
    if size >= parallel * 5 * MiB:
        assert choice.count >= parallel
    assert choice.reason


def test_the_chooser_is_a_pure_function() -> None:
    """Same inputs, same answer: the choice can be logged and explained."""
    args = dict(rate=RATE, rtt=0.04, hash_rate=800 * MB)
    assert choose_part_size(700 * MiB, 4, **args) == choose_part_size(700 * MiB, 4, **args)


# ---- parts hashed while the file settled (prehashed) ------------------------------------

@pytest.mark.parametrize("rtt", [None, 0.0005, 0.04, 0.2])
@pytest.mark.parametrize("parallel", [4, 8])
def test_parts_hashed_while_settling_go_one_per_connection(rtt: float | None,
                                                           parallel: int) -> None:
    """No connection waits for hashing, so each round trip saved counts: 1000 MiB on 4 or
    8 connections at 25 MB/s goes in one part per connection, whatever the round trip."""
    choice = choose_part_size(1000 * MiB, parallel, rate=RATE, rtt=rtt, prehashed=True)
    assert choice.count == parallel
    assert "settled" in choice.reason


def test_parts_hashed_while_settling_still_take_at_most_30_s() -> None:
    """One connection at 25 MB/s: a 1000 MiB file still goes in parts of <= 30 s, so a
    retry or a resume never redoes more than that."""
    choice = choose_part_size(1000 * MiB, 1, rate=RATE, rtt=0.04, prehashed=True)
    assert choice.size <= 30 * RATE
    assert choice.count == 2


def test_parts_hashed_while_settling_keep_every_store_and_vod_rule() -> None:
    """On loopback (fast) the authority floor and 1 GiB cap still hold; a 45 MB file on
    4 connections still goes in 4 parts."""
    fast = choose_part_size(2048 * MiB, 4, rate=300 * MB, rtt=0.0005, prehashed=True)
    assert fast.count == 4 and fast.size <= 1024 * MiB
    huge = choose_part_size(20 * 1024 * MiB, 4, rate=300 * MB, rtt=0.0005, prehashed=True)
    assert huge.size <= 1024 * MiB and huge.count % 4 == 0
    assert choose_part_size(45 * MB, 4, rate=RATE, prehashed=True).count == 4


def test_without_a_measured_rate_prehashed_changes_nothing() -> None:
    """Before any rate is known the 30 s rule cannot be applied: the choice is the usual
    one (the upload then hashes its parts)."""
    for rtt in (None, 0.04):
        assert (choose_part_size(1000 * MiB, 8, rtt=rtt, prehashed=True)
                == choose_part_size(1000 * MiB, 8, rtt=rtt))


# ---- what the link showed, remembered ----------------------------------------------------

def test_the_link_estimate_is_remembered_per_endpoint(tmp_path: Path) -> None:
    """Saved for one endpoint and loaded back; another endpoint starts blind; an estimate
    two weeks old (or an unreadable file) is not trusted."""
    from vodwatch.partsize import LinkEstimate, load_link, save_link

    path = tmp_path / "link.json"
    save_link(path, "https://vod.a", LinkEstimate(25e6, 0.04, 600e6), now=1000.0)
    save_link(path, "https://vod.b", LinkEstimate(5e6, None, None), now=1000.0)
    a = load_link(path, "https://vod.a", now=2000.0)
    assert (a.rate, a.rtt, a.hash_rate) == (25e6, 0.04, 600e6)
    b = load_link(path, "https://vod.b", now=2000.0)
    assert (b.rate, b.rtt, b.hash_rate) == (5e6, None, None)
    assert load_link(path, "https://vod.c", now=2000.0).rate is None
    assert load_link(path, "https://vod.a", now=1000.0 + 15 * 86400).rate is None
    path.write_text("{not json")
    assert load_link(path, "https://vod.a", now=2000.0).rate is None
