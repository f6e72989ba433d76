"""A test hook: make a named step stop and wait, so a test can kill the run there.

`HHLINK_TEST_PAUSE_AT=<pattern>` (fnmatch, e.g. `raw__health`, `persons`, `publish`)
makes `pause_point(step)` announce "test hook: pausing at <step>" on the progress
log and sleep `HHLINK_TEST_PAUSE_SECONDS` (default 60). Unset, it does nothing. It
exists so that the crash-safety tests can SIGKILL a real `hhlink run` at a known
phase (mid-ingestion, mid-linkage, mid-publication) instead of guessing by timing.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time

ENV, SECONDS_ENV = "HHLINK_TEST_PAUSE_AT", "HHLINK_TEST_PAUSE_SECONDS"


def pause_point(step: str) -> None:
    """Sleep here when the test hook names this step; otherwise return at once."""
    pattern = os.environ.get(ENV)
    if not pattern or not fnmatch.fnmatchcase(step, pattern):
        return
    logging.getLogger("hhlink.progress").info("test hook: pausing at %s", step)
    for h in logging.getLogger("hhlink.progress").handlers:
        h.flush()
    time.sleep(float(os.environ.get(SECONDS_ENV, "60")))
