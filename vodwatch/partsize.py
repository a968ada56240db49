"""How big each part of a multipart upload is: within the store's rules, cut into full
rounds of parallel parts, and (adaptive) fitted to what the link has shown.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import structlog

from .atomic import replace_file

log = structlog.get_logger("vodwatch.upload")

MiB = 1024 * 1024
MAX_PARTS = 10_000
MIN_PART = 100 * 1024



def part_size_for(size: int, preferred: int, parallel: int = 1) -> int:
    """Preferred part size, grown (in whole MiB) so the file needs at most 10,000 parts.

    With ``parallel`` parts in flight, a file of at least that many parts is cut
    into a multiple of ``parallel`` equal parts (each no larger than preferred), so
    the last round of parts keeps every connection busy instead of one or two.
    """
    part = max(preferred, MIN_PART)
    if math.ceil(size / part) > MAX_PARTS:
        return math.ceil(size / MAX_PARTS / MiB) * MiB
    count = math.ceil(size / part)
    if parallel > 1 and count >= parallel and count % parallel:
        balanced = math.ceil(size / (math.ceil(count / parallel) * parallel))
        if balanced >= MIN_PART:
            part = balanced
    return part


# ---- choosing the part size from the path ------------------------------------------------

MIN_SPLIT = 5 * MiB  # a file is cut into parallel_parts parts only while each stays this big
MAX_AUTO_PART = 1024 * MiB  # bigger parts gain nothing and make a retry or a resume costly
MAX_PART_SECONDS = 30.0  # ... nor should one part take longer than this to send
FALLBACK_PART = 20 * MiB  # VOD's recommendation, when the round trip is not known yet
HASH_RATE = 500e6  # bytes/s a part's MD5 is worked out at, until measured
# Share of the tenant's upload-call limit (authority + confirm) the parts of all uploads
# going on at once may use at the link's measured rate: the rest is headroom.
AUTHORITY_SHARE = 0.5


@dataclass(frozen=True)
class PartChoice:
    """A part size for one file and why."""

    size: int
    count: int
    reason: str


def choose_part_size(size: int, parallel: int, *, rate: float | None = None,
                     rtt: float | None = None, calls_per_minute: float = 1400.0,
                     uploads: int = 1, hash_rate: float = HASH_RATE,
                     prehashed: bool = False) -> PartChoice:
    """The part size for a file of ``size`` bytes sent on ``parallel`` connections.

    ``rate`` is what one connection carries (bytes/s) and ``rtt`` the store's round
    trip (s), as measured on earlier parts; None when not known yet. Each part costs
    one round trip on its connection (the authority call is made ahead, hidden),
    and no connection can start before its first part is hashed: the last one
    waits for ``parallel`` parts' hashing, less the initiate's round trip the
    hashing overlaps. With ``k`` parts per connection both add up to
    ``max(0, size / (k * hash_rate) - rtt) + k * rtt``; ``k`` is chosen to make that
    least. ``prehashed``: the parts' MD5s are worked out while the file settles, so
    no connection waits for hashing and one part per connection (one round trip
    each) costs least; the 30 s rule below still cuts them smaller, so it applies
    only once ``rate`` is known. Then, in this order of precedence:

    - OBS: at most 10,000 parts, each >= 100 KiB (except the last) and <= 5 GiB;
    - at least ``parallel`` parts while each stays >= 5 MiB, so every connection works;
    - parts no smaller than what keeps the authority calls of ``uploads`` uploads at
      ``rate`` within half of ``calls_per_minute`` (VOD allows 1500/min for authority
      and confirm together), so the limit on calls never becomes the limit on bytes;
    - no part longer than 30 s to send, nor over 1 GiB; and the count a multiple of
      ``parallel``, so the last round keeps every connection busy.
    """
    p = max(1, parallel)
    if size <= 0:
        return PartChoice(MIN_PART, 1, "empty file")
    # The OBS floor: 10,000 parts at most, in whole MiB when it binds (as part_size_for).
    floor_obs = max(MIN_PART, math.ceil(size / MAX_PARTS / MiB) * MiB
                    if size > MAX_PARTS * MIN_PART else MIN_PART)
    # Every connection gets a part, as long as parts stay >= 5 MiB.
    spread = max(1, min(p, size // MIN_SPLIT))
    ceiling = max(floor_obs, math.ceil(size / spread))
    why: list[str] = []
    if prehashed and rate is not None and rate > 0:
        part = math.ceil(size / p)
        why.append("part MD5s worked out while the file settled: one part per connection, "
                   "one round trip each")
    elif rtt is None or rtt <= 0:
        part = FALLBACK_PART
        why.append("round trip not measured yet: 20 MiB")
    else:
        k = _best_rounds(size, max(hash_rate, 1e6), rtt)
        part = math.ceil(size / (k * p))
        why.append(f"{k} part(s) per connection balance the {rtt * 1000:.0f} ms round trip "
                   f"per part against hashing the first round at {hash_rate / 1e6:.0f} MB/s")
    least = 0
    if rate is None or rate <= 0:
        # The link may be as fast as loopback: keep VOD's 20 MiB as the smallest part,
        # which holds the authority calls within the limit up to about 490 MB/s.
        least = FALLBACK_PART
        if part < least:
            part = least
            why.append("at least 20 MiB until a rate is measured")
    else:
        longest = int(rate * MAX_PART_SECONDS)
        if part > longest:
            part = longest
            why.append(f"capped at {MAX_PART_SECONDS:.0f} s per part")
        budget = calls_per_minute / 60 * AUTHORITY_SHARE / max(1, uploads)
        least = math.ceil(p * rate / budget)
        if part < least:
            part = least
            why.append(f"raised so {max(1, uploads)} upload(s) at {rate / 1e6:.1f} MB/s per "
                       f"connection need at most {budget:.1f} authority calls/s")
    if part > MAX_AUTO_PART:
        part = MAX_AUTO_PART
        why.append("capped at 1 GiB")
    if part > ceiling:
        part = ceiling
        why.append(f"cut into {spread} part(s) so every connection has one")
    part = max(part, floor_obs)
    count = math.ceil(size / part)
    if p > 1 and count > p and count % p:
        # Round the count to a multiple of the connections: up while parts stay above
        # the authority floor, else down (parts grow, never past the 10,000-part rule).
        up = math.ceil(size / (math.ceil(count / p) * p))
        down = math.ceil(size / (count // p * p))
        part = up if up >= max(floor_obs, least, MIN_SPLIT) else down
        count = math.ceil(size / part)
    return PartChoice(part, count, "; ".join(why))


def _best_rounds(size: int, hash_rate: float, rtt: float) -> int:
    """Parts per connection ``k`` that minimise ``max(0, size / (k * hash_rate) - rtt)
    + k * rtt``: the first round's hashing not hidden behind the initiate's round trip
    (the time by which the last connection starts after the first), plus one round
    trip per part."""
    def cost(k: int) -> float:
        return max(0.0, size / (k * hash_rate) - rtt) + k * rtt
    return min(range(1, 201), key=cost)


@dataclass
class LinkEstimate:
    """What the path has shown: one connection's rate, the store's round trip and the
    local MD5 speed, each a moving average over the latest samples (None until seen)."""

    rate: float | None = None
    rtt: float | None = None
    hash_rate: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else 0.7 * old + 0.3 * new

    def saw_round_trip(self, seconds: float) -> None:
        with self.lock:
            self.rtt = self._mix(self.rtt, max(seconds, 1e-4))

    def saw_part(self, length: int, seconds: float) -> None:
        """A part of ``length`` bytes took ``seconds`` from request to answer."""
        with self.lock:
            moving = seconds - (self.rtt or 0.0)
            if length >= MIN_SPLIT and moving > 0:
                self.rate = self._mix(self.rate, length / moving)

    def saw_hash(self, length: int, seconds: float) -> None:
        with self.lock:
            if length >= MIN_SPLIT and seconds > 0:
                self.hash_rate = self._mix(self.hash_rate, length / seconds)


# ---- what the link showed, remembered across restarts and reloads ----------------------

LINK_FILE = "link.json"
LINK_MEMORY_SECONDS = 14 * 86400  # older estimates are not trusted: the path may differ
LINK_FILE_MAX = 1 << 20  # a link.json bigger than this is not ours: not read
MAX_RATE = 1e11  # bytes/s (800 Gbit/s): above it, a number no link or CPU has shown
MAX_RTT = 60.0  # seconds
_link_file_lock = threading.Lock()


def load_link(path: Path, endpoint: str, now: float | None = None) -> LinkEstimate:
    """The estimate last saved for ``endpoint`` in ``path`` (a new one if none, if it
    is unreadable, older than two weeks, or holds numbers no link shows: a file edited
    by hand must not stop uploads with an overflow)."""
    try:
        saved = json.loads(_read_small(path)).get(endpoint)
    except (OSError, ValueError, AttributeError):
        return LinkEstimate()
    if not isinstance(saved, dict):
        return LinkEstimate()
    now = now if now is not None else time.time()
    at = saved.get("at")
    if not _number(at) or not now - LINK_MEMORY_SECONDS <= at <= now + 86400:
        return LinkEstimate()  # no date, or one not within the last two weeks

    def plausible(key: str, most: float) -> float | None:
        value = saved.get(key)
        return float(value) if _number(value) and 0 < value <= most else None

    return LinkEstimate(plausible("rate", MAX_RATE), plausible("rtt", MAX_RTT),
                        plausible("hash_rate", MAX_RATE))


def _number(value: object) -> TypeGuard[float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _read_small(path: Path) -> str:
    """The text of the regular file ``path``, up to LINK_FILE_MAX bytes; OSError if it
    is not one (a FIFO would block the reader, /dev/zero would never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > LINK_FILE_MAX:
            raise OSError(errno.EINVAL, "not a small regular file", str(path))
        return os.read(fd, LINK_FILE_MAX + 1).decode()
    finally:
        os.close(fd)


def save_link(path: Path, endpoint: str, link: LinkEstimate, now: float | None = None
              ) -> None:
    """Remember ``link`` for ``endpoint`` in ``path`` (beside other endpoints'); OSError
    if the state folder refuses."""
    with link.lock:
        entry = {"rate": link.rate, "rtt": link.rtt, "hash_rate": link.hash_rate,
                 "at": now if now is not None else time.time()}
    with _link_file_lock:
        try:
            known = json.loads(_read_small(path))
        except (OSError, ValueError):
            known = {}
        known = known if isinstance(known, dict) else {}
        known[endpoint] = entry
        replace_file(path, json.dumps(known, indent=1).encode(), mode=0o600, durable=False)
