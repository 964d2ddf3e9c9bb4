"""The one error root of codecbench, one subclass per stage, and the documented exit codes.

Every expected failure derives from :class:`CodecbenchError`; its ``str()`` is one user-facing
line naming the file or key and what to do. The CLI prints that line and exits with the
class's ``exit_code``; anything else is a genuine bug and gets a traceback plus a request to
report it. Stage classes keep their historical builtin bases (``ValueError``, ``RuntimeError``,
``KeyError``) so callers that caught those keep working.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1  # an unexpected exception: a codecbench bug (traceback printed)
EXIT_USAGE = 2  # bad suite, options, paths or data: nothing was run
EXIT_NOTHING_SCORED = 3  # the run finished but produced no scored row
EXIT_LOCKED = 4  # another codecbench process holds the run directory
EXIT_TASKS_FAILED = 5  # cluster tasks of a launched run kept failing (their logs are named)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: finished rows are stored, rerun to resume


class CodecbenchError(Exception):
    """Root of every expected codecbench error (one line, says what to do)."""

    exit_code: int = EXIT_USAGE


class ConfigError(CodecbenchError, ValueError):
    """A configuration file (suite, model, training) is invalid."""


class DataError(CodecbenchError, ValueError):
    """Input data (a dataset, an audio file) cannot be used."""


class CodecStageError(CodecbenchError, RuntimeError):
    """An adapter failed or cannot run."""


class MetricStageError(CodecbenchError, ValueError):
    """A metric is misconfigured."""


class StorageError(CodecbenchError, RuntimeError):
    """The run directory, its database or an output directory cannot be used."""


class RunLockedError(StorageError):
    """Another process holds the run directory's lock."""

    exit_code = EXIT_LOCKED


class NothingScoredError(CodecbenchError):
    """A run ended without a single scored row."""

    exit_code = EXIT_NOTHING_SCORED


class LaunchError(CodecbenchError, RuntimeError):
    """A launcher (Slurm, local tasks) cannot submit or follow the tasks of a run."""


class TasksFailedError(LaunchError):
    """Some tasks of a launched run failed more often than the launcher resubmits them."""

    exit_code = EXIT_TASKS_FAILED


__all__ = ["CodecbenchError", "ConfigError", "DataError", "CodecStageError", "MetricStageError",
           "StorageError", "RunLockedError", "NothingScoredError", "LaunchError", "TasksFailedError", "EXIT_OK",
           "EXIT_BUG", "EXIT_USAGE", "EXIT_NOTHING_SCORED", "EXIT_LOCKED", "EXIT_TASKS_FAILED", "EXIT_INTERRUPTED"]
