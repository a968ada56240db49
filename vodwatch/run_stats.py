"""What happened during one run, and what ``once`` exits with (SPEC §5: 0 done, 1 some
files failed, 3 VOD unreachable, credentials rejected or a folder set unavailable)."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .runtime import FolderSetRuntime


@dataclass
class RunStats:
    """What happened during this run (for ``once``'s exit code)."""

    done: int = 0
    failed: int = 0
    unreachable: bool = False
    credentials: bool = False
    detail: str = ""

    def exit_code(self, once: bool) -> int:
        if not once:
            return 0  # `run` stopped as asked; outcomes are in the journal and logs
        if self.credentials or self.unreachable:
            return 3
        return 1 if self.failed else 0

    def once_finished(self, sets: Mapping[str, FolderSetRuntime],
                      running: Mapping[int, Future[Any]], waiting: Mapping[int, float],
                      job_folder: Mapping[int, str]) -> bool:
        """``once`` is done: nothing runs, and nothing waits that it would wait for."""
        if running:
            return False
        away = [runtime.watch.unavailable for runtime in sets.values() if runtime.watch.unavailable]
        if away:
            # `once` does not wait for a share to come back: exit 3 says why.
            self.unreachable = True
            self.detail = str(away[0])
            return True
        if self.credentials or self.unreachable:
            return True
        # A folder set someone paused takes no work: `once` does not wait for its files.
        held = {name for name, runtime in sets.items() if runtime.held}
        if any(job_folder.get(job_id) not in held for job_id in waiting):
            return False
        return all(len(runtime.watch.settler) == 0 for name, runtime in sets.items()
                   if name not in held)
