"""paramtool's exceptions and exit codes.

The library raises only :class:`ParamtoolError` subclasses; ``paramtool.cli`` turns each into one
line on stderr and the exit code in :attr:`ParamtoolError.exit_code`. Nothing here imports Click.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes of every paramtool command."""

    OK = 0
    #: ``diff`` (and later checks) found differences.
    DIFFERENCES = 1
    #: Bad command line (Click's own usage errors use 2 too).
    USAGE = 2
    #: Unreadable or unsupported input, or a write that was refused or failed.
    INPUT = 3


class ParamtoolError(Exception):
    """Base class of every error paramtool raises on purpose."""

    exit_code: ExitCode = ExitCode.INPUT


class FormatError(ParamtoolError):
    """The file is not a valid MXNet NDArray list (spec §2–§5).

    Parameters
    ----------
    path:
        The file, as given by the user.
    message:
        What is wrong, e.g. ``"file ends (needs 8 bytes, 3 left)"``.
    offset:
        Absolute byte offset in the file where the bad field starts, or None.
    record:
        0-based index of the array record, or None when the error is outside a record.
    field:
        Name of the field being read, e.g. ``"ndim"``, ``"type_flag"``, ``"name length"``.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        offset: int | None = None,
        record: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.message = message
        self.offset = offset
        self.record = record
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.offset is not None:
            where.append(f"at byte {self.offset}")
        loc = (" " + ", ".join(where)) if where else ""
        return f"{self.path}:{loc}: {self.message}" if loc else f"{self.path}: {self.message}"


class UnsupportedFormatError(FormatError):
    """A valid file of a kind this version of paramtool cannot read yet (sparse, MXNet 2.x zip)."""


class RenameError(ParamtoolError):
    """A rename plan is impossible: unmatched names, or two names would become one."""


class WriteRefusedError(ParamtoolError):
    """paramtool will not write: the destination exists, is the source, or the write failed."""


class BackendUnavailableError(ParamtoolError):
    """The MXNet backend was asked for but MXNet cannot be imported here."""


class BackendError(ParamtoolError):
    """MXNet itself refused to read or write the file (message carries MXNet's reason)."""


class ModelSpecError(ParamtoolError):
    """A ``--model`` spec cannot be resolved or built (bad path, module, callable, JSON, ...)."""
