"""Exceptions that carry a message a user can act on (what is wrong, and which file)."""


class MnistRobustError(Exception):
    """Base class: every error the pipeline raises on bad input derives from it."""


class DataError(MnistRobustError):
    """A data file is missing, truncated, malformed or fails its checksum."""


class ChecksumError(DataError):
    def __init__(self, name: str, expected: str, found: str, source: str = ""):
        where = f" (from {source})" if source else ""
        super().__init__(f"checksum mismatch for {name}{where}: expected md5 {expected}, found {found}")
        self.name, self.expected, self.found = name, expected, found


class CheckpointError(MnistRobustError):
    """A checkpoint cannot be read or does not hold what it should."""


class ConfigError(MnistRobustError):
    """A configuration value or a requested name is not valid."""
