"""The one exception root of mdreg.

Library code raises these; only the CLI prints them and turns them into exit codes.
The message is what the user reads, so it says what went wrong and how to fix it.

    MdregError                      exit 1  (generic failure)
    ├── ChecksFailedError           exit 1  introspection or verify found a failed check
    ├── UsageError                  exit 2  flags that contradict each other or are missing
    ├── InputError                  exit 3  a file, folder or value that cannot be used
    │   ├── DetectionError                  the model file's framework cannot be told
    │   ├── DestinationExistsError          the output folder is not empty (use --force)
    │   ├── ArtifactError                   an artifact that is malformed or tampered with
    │   ├── FrameworkNotInstalledError      the framework package a step needs is missing
    │   ├── ModelNotFoundError              (catalog.base) no model with that id
    │   ├── VersionLabelTakenError          (catalog.base) the label is used in that version set
    │   └── ObjectNotFoundError             (storage.base) no such object in the bucket
    ├── UnsafeModelError            exit 4  refused to load: a pickle outside the allow-list
    ├── PluginError                 exit 1  (frameworks.registry) two plugins claim one name
    └── RemoteError                 exit 5  a catalog, bucket or service call failed
        └── InvokeError                     (invoke) a served model answered an error, or nothing
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_UNSAFE = 4
EXIT_REMOTE = 5


class MdregError(Exception):
    """Root of every error mdreg raises on purpose."""

    exit_code = EXIT_FAILED


class ChecksFailedError(MdregError):
    exit_code = EXIT_FAILED


class UsageError(MdregError):
    exit_code = EXIT_USAGE


class InputError(MdregError):
    exit_code = EXIT_INPUT


class DetectionError(InputError):
    pass


class DestinationExistsError(InputError):
    pass


class ArtifactError(InputError):
    pass


class FrameworkNotInstalledError(InputError):
    def __init__(self, framework: str, package: str, extra: str | None = None) -> None:
        hint = f"pip install 'mdreg[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{framework} support needs the '{package}' package: {hint}")
        self.framework = framework
        self.package = package


class UnsafeModelError(MdregError):
    exit_code = EXIT_UNSAFE


class RemoteError(MdregError):
    exit_code = EXIT_REMOTE
