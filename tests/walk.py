"""Put a job in a state the way a job gets there: the journal refuses shortcuts."""

from __future__ import annotations

from vodwatch.journal import Journal
from vodwatch.states import walk as path


def walk(journal: Journal, job_id: int, state: str) -> None:
    """Move the job along its normal walk until it is in ``state``."""
    for step in path(journal.job(job_id).state, state):
        journal.set_job(job_id, state=step)
