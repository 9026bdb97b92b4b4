"""User-facing errors and the process exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit status, documented in README "Exit codes"."""

    OK = 0
    """Ran; nothing at or above the fail level."""
    FINDINGS = 1
    """Findings at or above the fail level (``--fail-on`` or the CI policy)."""
    ERROR = 2
    """Usage, config or unusable input."""
    INTERNAL = 3
    """An unexpected error inside smcheck (a bug): one line, ``--debug`` shows the traceback."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as a shell reports it)."""
    BROKEN_PIPE = 141
    """The reader of stdout closed the pipe early (128 + SIGPIPE, as a shell reports it)."""


FLAGS = "--{} {}"
"""How a message names a one-word option given with a value on the command line or in a config
file (``--dim 5``); :data:`ARGUMENTS` is the Python API's (``dim=5``). The value is formatted as
``configchecks.shown`` writes it (a 4000-digit ``dim`` is cut)."""
ARGUMENTS = "{}={}"
"""How a message names a keyword argument given with a value (``dim=5``), written as FLAGS's."""
OPTION_FLAGS = {"dtypes": "dtype", "methods": "method", "temperatures": "temperature"}
"""The flag of each list option whose keyword is plural (``dtypes=`` is ``--dtype``)."""


class SmcheckError(Exception):
    """Base for errors whose message is meant for the user: one sentence, then the fix."""

    exit_code: ExitCode = ExitCode.ERROR
    options: tuple[str, ...] = ()
    """The analysis options (AnalysisConfig fields, e.g. ``dim``) whose values it refuses: its
    message names their flags (``--dim``), and a caller that took a value from a config file
    says so (check.policy.Policy.blame)."""

    unnamed: bool = False
    """The message names no option (``unknown dtype 'fp8'``: the check does not know which one
    it checks); whoever reports it names ``options[0]`` first (:func:`naming_option`)."""

    spelled: dict[str, str] | None = None
    """The message as each caller names the options its fix sets, by spelling: FLAGS's (the
    command line: ``--model framework``) and ARGUMENTS's (the API: ``model='framework'``);
    ``str(e)`` names no option (a config file's value, or a caller that spells none)."""

    def __init__(
        self,
        *args: object,
        options: tuple[str, ...] = (),
        spelled: dict[str, str] | None = None,
    ) -> None:
        super().__init__(*args)
        self.options = options
        self.spelled = spelled


class LoadError(SmcheckError):
    """An input source cannot be read as logits."""


class SeveralTensorsError(LoadError):
    """A container holds several tensors and no key says which are the logits (a model
    checkpoint, say); ``smcheck check --skip-multi-tensor`` leaves such a file out with a note."""

    def __init__(self, *args: object, holds: str) -> None:
        super().__init__(*args)
        self.holds = holds
        """What it holds, ``4 tensors``."""


class ConfigError(SmcheckError):
    """An option, a policy or a config file is invalid."""


class UnsupportedDtypeError(ConfigError):
    """A floating-point format name is unknown."""


class UnknownMethodError(ConfigError, KeyError):
    """A softmax method id is unknown."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def naming_option(e: SmcheckError, given: dict[str, object] | None = None) -> str:
    """``e``'s message, led by the option it refuses where it names none: ``--dtype: unknown
    dtype 'fp8'; ...`` on the command line, ``dtypes=['fp8']: ...`` from the Python API, whose
    keyword arguments are ``given`` (:data:`ARGUMENTS`); one that has a message per spelling
    (:attr:`SmcheckError.spelled`) gives the caller's."""
    if e.spelled:
        return e.spelled[FLAGS if given is None else ARGUMENTS]
    if not (e.unnamed and e.options):
        return str(e)
    key = e.options[0]
    if given is None:
        return f"--{OPTION_FLAGS.get(key, key).replace('_', '-')}: {e}"
    return f"{ARGUMENTS.format(key, repr(given.get(key)))}: {e}"


def load_error(name: str, what: str, fix: str, options: tuple[str, ...] = ()) -> LoadError:
    """``cannot load 'NAME': WHAT; FIX`` (``<stdin>``-style names are shown unquoted);
    ``options``: those whose values it refuses (see :attr:`SmcheckError.options`)."""
    return LoadError(_cannot_load(name, what, fix), options=options)


def several_tensors_error(name: str, holds: str, fix: str) -> SeveralTensorsError:
    """``cannot load 'NAME': it holds HOLDS; FIX``, as :func:`load_error` words it."""
    return SeveralTensorsError(_cannot_load(name, f"it holds {holds}", fix), holds=holds)


def _cannot_load(name: str, what: str, fix: str) -> str:
    shown = name if name.startswith("<") else repr(name)  # repr escapes newlines in paths
    return f"cannot load {shown}: {what}; {fix}"
