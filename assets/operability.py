"""What engineers see when a step goes wrong: transient I/O retried with back-off, the rest in one line that
says what to do.

A DuckDB file has one writer. When another process holds the working database (a second
`hhlink run`, a run started from the UI while the CLI runs) the step does not fail at
once: it asks Dagster to retry it after `HHLINK_IO_RETRY_SECONDS` (default 2), doubling
each time, `HHLINK_IO_RETRIES` times (default 4: 2 + 4 + 8 + 16 s). Only errors that
can pass by themselves are retried (a lock, a busy or briefly unavailable file); a full
disk or a missing permission fails at once, since waiting will not fix them.

Every failure is raised as a `dagster.Failure` whose description is one line: what
happened and what to do. The UI shows it at the top of the run; `hhlink run` prints it.
"""

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

RETRIES_ENV, DELAY_ENV = "HHLINK_IO_RETRIES", "HHLINK_IO_RETRY_SECONDS"
_TRANSIENT_ERRNO = {errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.EINTR}


def _setting(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise dg.Failure(description=f"{name} must be a number, not {value!r}: fix or unset it") from None


def transient(exc: BaseException) -> bool:
    """An error that may pass if the step waits: a held lock or a briefly unavailable file."""
    if isinstance(exc, duckdb.IOException):
        return "lock" in str(exc).lower()
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNO


def _disk_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def advice(exc: BaseException) -> str:
    """One line: what went wrong, in terms of what the operator can do about it."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.IOException) and "lock" in msg.lower():
        pid = msg.split("(PID ")[-1].rstrip(").") if "(PID " in msg else "another process"
        return (f"the working database is in use by another process (PID {pid}), probably another hhlink run or "
                f"a run from the Dagster UI: wait for it to finish (or stop it) and run again; runs take turns")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return (f"DuckDB ran out of memory ({msg}): raise HHLINK_DUCKDB_MEMORY (now "
                f"{os.environ.get('HHLINK_DUCKDB_MEMORY', '1GB')}) or run on a machine with more memory")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the disk is full ({exc.filename or msg}): free space beside the warehouse and run again"
    if _disk_full(exc):  # DuckDB's own spill files, often wrapped in a Splink error
        return ("a disk filled up while DuckDB spilled to its temporary files: free space there (TMPDIR, "
                f"{tempfile.gettempdir()}) or point TMPDIR at a bigger disk, and run again")
    if isinstance(exc, PermissionError):
        return (f"no permission to use {exc.filename or 'a file'}: check who owns the warehouse folder "
                f"(HHLINK_WAREHOUSE) and the landing zone (HHLINK_LANDING)")
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or msg} does not exist: check HHLINK_LANDING / HHLINK_WAREHOUSE"
    name = type(exc).__name__
    return (f"{name}: {msg} — unexpected; the published warehouse is unchanged. The step's log has the "
            f"traceback; a rerun retries from the last completed step")


@contextmanager
def guarded(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> Iterator[None]:
    """Turn a step's exceptions into a retry (transient I/O) or a `Failure` with advice."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as exc:
        retries = int(_setting(RETRIES_ENV, 4))
        attempt = context.retry_number
        if transient(exc) and attempt < retries:
            wait = _setting(DELAY_ENV, 2.0) * 2 ** attempt
            context.log.warning(f"{advice(exc)} — retry {attempt + 1} of {retries} in {wait:.0f} s")
            raise dg.RetryRequested(max_retries=retries, seconds_to_wait=wait) from exc
        raise dg.Failure(description=advice(exc), allow_retries=False) from exc


def user_error(description: str) -> dg.Failure:
    """A failure the operator fixes by changing a setting or a file: no traceback needed."""
    return dg.Failure(description=description, allow_retries=False)
