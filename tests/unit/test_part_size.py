"""part_size_for: the configured part size, grown so that no file needs more than 10,000 parts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodwatch.upload import MAX_PARTS, MIN_PART, MiB, part_size_for

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
