"""Domain exceptions. The CLI turns each into one line and a non-zero exit code."""


class EdgeError(Exception):
    """Base class: the message says what went wrong and how to fix it."""

    exit_code = 1


class UsageError(EdgeError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class ModelNotFound(EdgeError):
    """A model is not installed, or its name is unknown."""

    exit_code = 2


class IntegrityError(EdgeError):
    """A file is not what it claims to be: wrong hash, truncated, not GGUF."""

    exit_code = 3


class DownloadError(EdgeError):
    """Fetching an artifact failed (network, registry, pip)."""

    exit_code = 4


class PromptTooLong(EdgeError):
    """Even the question alone does not fit the context window."""

    exit_code = 2


class IndexError_(EdgeError):
    """The document index cannot be used as asked (embedder mismatch, bad schema)."""

    exit_code = 2


class EmptyIndex(UsageError):
    """Retrieval was asked for, but the document index holds nothing yet."""


class DiskFull(EdgeError):
    """No room left to write a file (a model being assembled, a download)."""

    exit_code = 1


class StorageError(EdgeError):
    """A database file cannot be used: locked, read-only, disk full, damaged, or not edge's."""

    exit_code = 1


class DocumentError(EdgeError):
    """A document cannot be read (corrupt, encrypted, no text layer, not the format it claims)."""


class Interrupted(EdgeError):
    """A long job was stopped (Ctrl-C, SIGTERM) with what it had done kept: run it again to go on."""

    exit_code = 130


class TrainingInterrupted(Interrupted):
    """A training run was stopped after its checkpoint was saved."""
