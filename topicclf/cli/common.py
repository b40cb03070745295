"""Shared pieces of the command line: the app and its help order (HELP_ORDER), exit codes,
consoles, option types derived from the core's lists, corpus-reading options, progress
rendering, warnings display and output checks. The commands are in `cli.model`, `cli.tag`,
`cli.serve` and `cli.corpus`; `cli.run` maps errors to exit codes."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import gc
import inspect
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer
from rich.console import Console

from topicclf import __version__, jsontext
from topicclf.config import BAD_RECORD_POLICIES, HEARTBEAT_SECONDS, MODES, NETWORK_TYPES, shown
from topicclf.corpus import READERS, WRITERS
from topicclf.corpus.base import separator_problem
from topicclf.corpus.sources import REUTERS_ENV
from topicclf.reports.safe import escape

if TYPE_CHECKING:
    from topicclf.corpus import Corpus, CorpusOptions

EXIT_DOMAIN, EXIT_USAGE, EXIT_GATE, EXIT_INTERRUPTED = 1, 2, 3, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool `| head` closed


# Lines are never wrapped: a path or a topic list broken across lines would be misread by
# whoever copies or parses it; tables still fit the terminal.
STDOUT_CLOSED = "standard output is closed (started with >&-); redirect it to a file or /dev/null"
_DEV_FULL = (1, 7)  # /dev/full's device numbers on Linux: every write fails with ENOSPC


def standard_output() -> Any:
    """sys.stdout for data, or an OSError saying it is closed or cannot be written (open
    for reading only, /dev/full): called before any work, so a command does not train or
    score and then fail on its first line of output. A failing write names standard
    output (`stdout_error`)."""
    check_writable("stdout", "redirect it to a file or /dev/null")
    return StdoutWrites(sys.stdout)


def check_writable(name: str, fix: str) -> None:
    """OSError unless sys.stdout or sys.stderr (`name`) can be written: closed, open for
    reading only or /dev/full is said before any work, with `fix` (what to do instead). One
    check for the data on stdout and the request log `serve -v` writes on stderr."""
    stream = getattr(sys, name)
    number = 1 if name == "stdout" else 2
    said = "standard output" if number == 1 else "standard error"
    closed = f"{said} is closed (started with {'' if number == 1 else '2'}>&-); {fix}"
    if stream is None:
        raise OSError(errno.EBADF, closed)
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation: captured (tests), not a file
        return
    try:
        mode, found = fcntl.fcntl(fd, fcntl.F_GETFL), os.fstat(fd)
    except OSError:
        raise OSError(errno.EBADF, closed) from None
    if mode & os.O_ACCMODE == os.O_RDONLY:
        raise OSError(
            errno.EBADF,
            f"{said} is open for reading only (started with {number}<FILE?), so nothing can "
            f"be written to it; redirect it with {'' if number == 1 else '2'}>FILE",
        )
    if stat.S_ISCHR(found.st_mode) and (
        (os.major(found.st_rdev), os.minor(found.st_rdev)) == _DEV_FULL
    ):
        raise OSError(
            errno.ENOSPC,
            f"{said} is /dev/full, where every write fails (No space left on device); {fix}",
        )


def stdout_error(exc: OSError) -> OSError:
    """A failed write to stdout (a full disk, an I/O error) as an OSError that names
    standard output, where a bare `No space left on device` did not. A reader gone away
    (BrokenPipeError: `run` stops quietly with 141) stays as it is."""
    said = str(exc.strerror or exc)
    if isinstance(exc, BrokenPipeError) or said.startswith("standard output"):
        return exc
    return OSError(exc.errno, f"standard output cannot be written: {said}")


@contextlib.contextmanager
def after_saving(done: str) -> Iterator[None]:
    """Around what a command prints once its result is saved: a stdout that fails then
    also says what was saved (`done`: "the model was saved to m"), so exit 1 is not read
    as nothing written."""
    try:
        yield
        try:
            if sys.stdout is not None:
                sys.stdout.flush()  # its last lines fail here when the disk is full
        except OSError as exc:
            raise stdout_error(exc) from None
    except OSError as exc:
        said = str(exc.strerror or "")
        if isinstance(exc, BrokenPipeError) or not said.startswith("standard output"):
            raise
        raise OSError(exc.errno, f"{said}; {done}") from None


class StdoutWrites:
    """sys.stdout for data (tags, corpora), written as it is, whose failing writes name
    standard output (`stdout_error`)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text` to stdout."""
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            raise stdout_error(exc) from None

    def flush(self) -> None:
        """Flush stdout."""
        try:
            self._stream.flush()
        except OSError as exc:
            raise stdout_error(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StandardStream:
    """sys.stdout or sys.stderr as the consoles see it, looked up at each write (tests
    capture them): characters its encoding cannot hold are written as escapes (a table on
    an ASCII-only terminal), and a stream the process was started without (`>&-`) is an
    OSError naming it for stdout, nothing at all for stderr. Data (tags, corpora) is written
    to sys.stdout directly, never through this, so it is never altered."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _stream(self) -> Any:
        return getattr(sys, self.name)

    @property
    def encoding(self) -> str:
        """The stream's encoding (UTF-8 when there is none)."""
        return str(getattr(self._stream(), "encoding", None) or "utf-8")

    def write(self, text: str) -> int:
        """Write `text`, escaped where the encoding cannot hold it."""
        stream = self._stream()
        if stream is None:
            if self.name == "stderr":
                return len(text)
            raise OSError(errno.EBADF, STDOUT_CLOSED)
        encoding = self.encoding
        if not encoding.lower().replace("-", "").replace("_", "").startswith("utf"):
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        if self.name != "stderr":
            try:
                return int(stream.write(text))
            except OSError as exc:
                raise stdout_error(exc) from None
        try:
            return int(stream.write(text))
        except OSError:
            # Diagnostics that cannot be written (stderr on a full disk, 2>/dev/full) are
            # lost; the work and its results go on (before: tagging stopped, writing nothing).
            return len(text)

    def flush(self) -> None:
        """Flush the stream, if there is one (a failing stderr is let be, as in `write`)."""
        stream = self._stream()
        if stream is None:
            return
        try:
            stream.flush()
        except OSError as exc:
            if self.name != "stderr":
                raise stdout_error(exc) from None

    def isatty(self) -> bool:
        """Whether the stream is a terminal."""
        stream = self._stream()
        return stream is not None and bool(stream.isatty())

    def fileno(self) -> int:
        """The stream's file descriptor."""
        stream = self._stream()
        if stream is None:
            said = "standard output" if self.name == "stdout" else "standard error"
            raise OSError(errno.EBADF, f"{said} is closed")
        return int(stream.fileno())


out = Console(file=StandardStream("stdout"), highlight=False, soft_wrap=True)  # type: ignore[arg-type]
err = Console(file=StandardStream("stderr"), highlight=False, soft_wrap=True)  # type: ignore[arg-type]
# Narrower than this (COLUMNS=0 or 5, a tiny terminal), rich printed nothing at all, error
# lines included (COLUMNS=0), or tables of empty cells: lines wrap instead.
MIN_WIDTH = 60
for _console in (out, err):
    if _console.width < MIN_WIDTH:
        _console.width = MIN_WIDTH


def print_json(data: Any, **options: Any) -> None:
    """`data` as indented JSON on stdout, with whatever could act on a terminal escaped
    (`jsontext`): rich's print_json wrote C1 controls and bidi overrides from a forged
    model or corpus raw. Written as it is, not through rich, whose rendering of a 60 MB
    forged manifest took a minute and 5 GB."""
    stream = StandardStream("stdout")
    if stream.encoding.lower().replace("-", "").replace("_", "").startswith("utf"):
        text = jsontext.dumps(data, indent=2, **options)
    else:  # an ASCII-only stdout: \uXXXX escapes are the same JSON
        text = json.dumps(data, indent=2, ensure_ascii=True, **options)
    stream.write(text + "\n")
    stream.flush()


class ControlsShown:
    """A terminal's text stream that shows control characters as escapes (`\\x1b`)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from topicclf.reports.safe import visible_controls

        # CSV rows end in \r\n: carriage returns that end a line are the format's own.
        shown = "\r\n".join(visible_controls(part) for part in text.split("\r\n"))
        return int(self._stream.write(shown))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def shown_on_terminal(stream: Any, fmt: str) -> Any:
    """`stream` for data in `fmt`, with control characters shown as escapes when it is a
    terminal and the format keeps every character (CSV, TSV, fastText); files and pipes,
    and JSON Lines, which escapes them itself, get the characters exactly."""
    if fmt != "jsonl" and stream.isatty():
        # A terminal would act on an ESC or bidi override in a topic, id or text.
        return ControlsShown(stream)
    return stream


class _State:
    verbose = False
    quiet = False
    gc_paused = False


state = _State()


def pause_gc() -> None:
    """Pause the cyclic garbage collector while `tag` starts: the modules it imports and
    the model it loads live for the whole run, and the collector scanned them over and over
    (about 30 ms of a one-document `tag`'s 0.55 s). `resume_gc` ends the pause."""
    if gc.isenabled():
        gc.disable()
        state.gc_paused = True


def resume_gc() -> None:
    """End `pause_gc`: what start-up made is frozen out of later collections (and forked
    workers leave its pages shared), then the collector runs again."""
    if state.gc_paused:
        state.gc_paused = False
        gc.freeze()
        gc.enable()


# The commands in the order `topicclf --help` lists them (the modules that define them are
# imported in another order); a command missing here is listed last.
HELP_ORDER = (
    "train", "tag", "explain", "evaluate", "optimize", "info", "tune", "serve", "corpus", "report",
)  # fmt: skip


class _Commands(typer.core.TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda n: rank.get(n, len(rank)))


app = typer.Typer(
    name="topicclf",
    cls=_Commands,
    help="Learn to tag documents with topics, tag collections and report how well it works.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
corpus_app = typer.Typer(
    help="Inspect and convert corpora.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
app.add_typer(corpus_app, name="corpus")
report_app = typer.Typer(
    help="Work with saved evaluation reports.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


def _version(value: bool) -> None:
    if value:
        out.print(f"topicclf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more on stderr.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.")
    ] = False,
) -> None:
    """Learn to tag documents with topics, tag collections and report how well it works."""
    state.verbose, state.quiet = verbose, quiet


def examples(*commands: str) -> str:
    """A command's epilog: its example commands, one per line (a Markdown code block)."""
    return "Examples:\n\n```\n" + "\n".join(commands) + "\n```"


_TYPE_NAMES = {"path": "PATH", "str": "TEXT", "int": "N", "float": "X", "int range": "N"}
_TYPE_NAMES |= {"float range": "X", "list[str]": "TEXT...", "list[path]": "PATH..."}


def _readable_types() -> None:
    """Show option types in --help as users read them (PATH, N, TEXT) instead of Python's
    (<path>, <int range>, <list[str]>), and none for flags and arguments, whose help says
    what they take. Typer has no setting for this; if its internals change, its own
    labels simply stay."""
    core = getattr(typer, "core", None)
    option = getattr(core, "TyperOption", None)
    argument = getattr(core, "TyperArgument", None)
    if option is None or argument is None or not hasattr(option, "display_type_rich"):
        return
    original = option.display_type_rich

    def display(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and getattr(self, "metavar", None) is None:
            return None
        shown = original(self, ctx)
        if not isinstance(shown, str) or not shown.startswith("<"):
            return shown
        inner = shown.strip("<>")
        return _TYPE_NAMES.get(inner, f"[{inner}]" if "|" in inner else inner.upper())

    option.display_type_rich = display
    argument.display_type_rich = lambda self, ctx: None


_readable_types()


def _choices(name: str, values: Iterable[str]) -> Any:
    """An option type whose values are the core's own list (typer needs an Enum)."""
    return StrEnum(name, {v: v for v in values})


# Each choice list is defined once, in the core; the CLI only wraps it.
if TYPE_CHECKING:
    Network: TypeAlias = str
    Mode: TypeAlias = str
    TagFormat: TypeAlias = str
    Engine: TypeAlias = str
    CorpusFormat: TypeAlias = str
    WriteFormat: TypeAlias = str
    BadRecords: TypeAlias = str
else:
    Network = _choices("Network", NETWORK_TYPES)
    Mode = _choices("Mode", MODES)
    TagFormat = _choices("TagFormat", ("jsonl", "csv", "tsv", "parquet"))
    Engine = _choices("Engine", ("local", "dask"))
    CorpusFormat = _choices("CorpusFormat", READERS)
    WriteFormat = _choices("WriteFormat", WRITERS)
    BadRecords = _choices("BadRecords", BAD_RECORD_POLICIES)


# -- options shared by every command that reads a corpus --------------------------------
CORPUS_HELP = (
    "A corpus file or directory (format guessed; see --format), '-' for stdin, or "
    f"reuters:SPLIT to read Reuters-21578 from ${REUTERS_ENV}."
)
PANEL = "Reading the corpus"
FormatOpt = Annotated[
    CorpusFormat | None,
    typer.Option("--format", "-f", help="Corpus format (default: guessed).", rich_help_panel=PANEL),
]
SplitOpt = Annotated[
    str,
    typer.Option(
        rich_help_panel=PANEL,
        help="Reuters split: all, modapte-train, modapte-test, r8-train, r8-test, r52-train, "
        "r52-test.",
    ),
]
EncodingOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="Text encoding of the corpus files.")
]
EncodingErrorsOpt = Annotated[
    str,
    typer.Option(
        rich_help_panel=PANEL,
        help="On undecodable bytes: strict (error), replace (with U+FFFD), ignore (drop them) "
        "or backslashreplace (as the text \\xe9, in JSON Lines strings too).",
    ),
]
TextFieldOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="JSON field / CSV column holding the text.")
]
LabelsFieldOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="JSON field / CSV column holding the labels.")
]
IdFieldOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="JSON field / CSV column holding the id.")
]


def _separator(value: str) -> str:
    """--label-separator checked as it is parsed: a bad option value is a usage error."""
    problem = separator_problem(value)
    if problem:
        raise typer.BadParameter(f"{shown(value)} {problem}")
    return value


SeparatorOpt = Annotated[
    str,
    typer.Option(
        rich_help_panel=PANEL,
        callback=_separator,
        help="Separator of labels in a CSV/TSV column.",
    ),
]
CategoriesOpt = Annotated[
    str,
    typer.Option(
        rich_help_panel=PANEL,
        help="Reuters category field: topics, places, people, orgs, exchanges.",
    ),
]


@dataclass(frozen=True)
class Reading:
    """A command's corpus format and reading options, gathered by `@reads_corpus`."""

    fmt: str | None
    options: CorpusOptions

    def open(self, path: str) -> Corpus:
        """Open a corpus path, '-' or reuters:SPLIT (from $TOPICCLF_REUTERS) with these options."""
        from topicclf.corpus.reuters import option_problem
        from topicclf.corpus.sources import open_source, source_options

        # A value outside an option's choices is a usage error (exit 2), before any work.
        problem = option_problem(source_options(path, self.options))
        if problem:
            raise typer.BadParameter(problem)
        fmt = str(self.fmt) if self.fmt is not None else None
        if path == "-" and fmt is not None:
            from topicclf.corpus import stdin_problem

            problem = stdin_problem(fmt)
            if problem:
                raise typer.BadParameter(problem, param_hint="--format")
        return open_source(path, fmt, self.options, reuters_location=os.environ.get(REUTERS_ENV))

    def with_options(self, **changes: Any) -> Reading:
        """The same reading with some options changed."""
        return dataclasses.replace(self, options=dataclasses.replace(self.options, **changes))


_READING_OPTIONS = {
    "fmt": FormatOpt,
    "split": SplitOpt,
    "encoding": EncodingOpt,
    "encoding_errors": EncodingErrorsOpt,
    "text_field": TextFieldOpt,
    "labels_field": LabelsFieldOpt,
    "id_field": IdFieldOpt,
    "label_separator": SeparatorOpt,
    "categories": CategoriesOpt,
}


def reads_corpus(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the corpus-reading options `names` (all when none are named).

    Typer builds options from the signature, so the wrapper's signature is the command's
    own, minus its `reading` parameter, plus one keyword parameter per option.
    """
    from topicclf.corpus.base import FIELD_OPTIONS, CorpusOptions, field_clash

    chosen = names or tuple(_READING_OPTIONS)
    defaults = {f.name: f.default for f in dataclasses.fields(CorpusOptions)} | {"fmt": None}

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "reading"]
        extra = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=defaults[name],
                annotation=_READING_OPTIONS[name],
            )
            for name in chosen
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            fmt = kwargs.pop("fmt", None)
            options = CorpusOptions(**{name: kwargs.pop(name) for name in chosen if name != "fmt"})
            clash = field_clash(options, [n for n in FIELD_OPTIONS if n in chosen])
            if clash:  # before any work: a column read for two roles is read for neither
                raise typer.BadParameter(clash)
            reading = Reading(fmt, options)
            command(*args, reading=reading, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=own + extra)  # type: ignore[attr-defined]
        return wrapper

    return decorate


# -- progress on stderr --------------------------------------------------------------------
class CliProgress:
    """Renders core progress on stderr: rich bars on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self._bar: Any = None
        self._task: Any = None
        self._name = ""
        self._started = 0.0
        self._done = 0
        self._info: dict[str, float] = {}
        self._total: int | None = None
        self._said = 0.0  # when the last line about the running task was printed
        self._heart: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self, task: str, total: int | None = None) -> None:
        """Begin a task."""
        # A task may name a file ("reading NAME"): shown by the one terminal rule, as a bar's
        # label (which rich reads as markup) and in the plain lines of a log alike.
        task = escape(task, limit=None)
        self._name, self._started, self._done, self._info = task, time.perf_counter(), 0, {}
        self._total, self._said = total, self._started
        if self.enabled and not self.live:
            self._beat()
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
            )
            self._bar.start()
            _LIVE.add(self)
            self._task = self._bar.add_task(task, total=total, info="")

    def advance(self, steps: int = 1, **info: float) -> None:
        """Record progress."""
        self._done += steps
        self._info.update(info)
        if self._bar is not None:
            text = " ".join(f"{k} {v:.4f}" for k, v in self._info.items())
            self._bar.update(self._task, advance=steps, info=text)

    def finish(self) -> None:
        """End the task, leaving one line behind."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            _LIVE.discard(self)
        elif self.enabled:
            self._name, name = "", self._name  # no heartbeat for a finished task
            figures = "".join(f", {k} {v:.4f}" for k, v in self._info.items())
            seconds = time.perf_counter() - self._started
            self.console.print(f"{name}: {self._done} done in {seconds:.1f}s{figures}")

    def _beat(self) -> None:
        """In a log (no terminal), a line at least every HEARTBEAT_SECONDS while a task runs,
        with its count and an estimate of the time left: a long step shows it is alive."""
        if self._heart is not None:
            return

        def beat() -> None:
            while not self._closed.wait(min(HEARTBEAT_SECONDS, 5.0) / 5):
                name, now = self._name, time.perf_counter()
                if not name or now - self._said < HEARTBEAT_SECONDS:
                    continue
                self._said = now
                self.console.print(
                    heartbeat_line(name, self._done, self._total, now - self._started)
                )

        self._heart = threading.Thread(target=beat, name="topicclf-heartbeat", daemon=True)
        self._heart.start()
        _OPEN.add(self)

    def close(self) -> None:
        """Stop the bar and the heartbeat without a last line: the command is over (an
        error ended it, or it is done), and nothing may print about it afterwards."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            _LIVE.discard(self)
        self._name = ""
        self._closed.set()
        _OPEN.discard(self)


def heartbeat_line(name: str, done: int, total: int | None, seconds: float) -> str:
    """`step: 12/40 after 61s, about 142s left` (an estimate once a unit is done)."""
    count = f"{done}/{total}" if total else f"{done}"
    line = f"{name}: {count} after {seconds:.0f}s"
    if total and 0 < done < total:
        line += f", about {seconds / done * (total - done):.0f}s left"
    elif total and not done:
        line += ", still on the first"
    return line


_LIVE: set[CliProgress] = set()
_OPEN: set[CliProgress] = set()  # progress with a heartbeat thread, closed when a command ends


def close_progress() -> None:
    """End every progress display of the command that just ended: bars and heartbeats
    (after an error, a task never finished would beat on in a long-lived process)."""
    for progress in list(_OPEN | _LIVE):
        progress.close()


def stop_progress() -> None:
    """Close any live progress bar (after Ctrl-C), so the terminal line is left clean."""
    for progress in list(_LIVE):
        progress.finish()


def make_progress() -> CliProgress:
    """Progress on stderr, silent with -q."""
    return CliProgress(err, enabled=not state.quiet)


def progress_bar_only() -> CliProgress | None:
    """A progress bar on stderr when it is a terminal (not with -q); None in a log."""
    return make_progress() if err.is_terminal and not state.quiet else None


def note(message: str) -> None:
    """A diagnostic line on stderr (not with -q)."""
    if not state.quiet:
        # Paths in notes are the user's or a sender's (a model directory's name): shown with
        # escapes, never as markup or raw terminal control sequences.
        err.print(escape(message, limit=None))


def warn(message: str) -> None:
    """A warning line on stderr, as the core's warnings are shown."""
    show_warning(message, UserWarning, "", 0)


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show a warning as one `warning:` line on stderr (library chatter only with -v)."""
    if state.quiet:
        return
    if not state.verbose and not issubclass(category, UserWarning):
        return  # library deprecation chatter is for developers, not users
    err.print(f"[yellow]warning:[/] {escape(str(message))}")


def shown_path(path: str | Path) -> str:
    """A path as reports show it: relative to the working directory when it is below it,
    else only its name, so shared reports do not carry the user's directory layout."""
    if str(path) == "-":
        return "stdin"
    absolute = Path(path).absolute()
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.name


def check_output(
    target: Path | str, inputs: Iterable[str], force: bool, kind: str = "file"
) -> None:
    """The one overwrite rule (see `fileio.check_output`), for a command's output option
    (`kind`: what the command writes there: "file", or a directory: "model", or "parts" for
    a Dask tagging output; see `fileio.DIRECTORY_OUTPUTS`)."""
    from topicclf.fileio import check_output as check

    check(target, inputs=inputs, force=force, kind=kind)


def distinct_outputs(paths: Iterable[Path], option: str = "--output") -> None:
    """Refuse a repeated output option that names one file twice, however spelt."""
    seen: dict[Any, tuple[int, Path]] = {}
    for index, path in enumerate(paths):
        for key in _file_keys(path):
            at, first = seen.setdefault(key, (index, path))
            if at != index:
                # The second write would replace the first's file, without --force.
                named = (
                    f"{first} is given twice"
                    if str(first) == str(path)
                    else f"{first} and {path} name the same file"
                )
                raise typer.BadParameter(f"{named}; give each output once", param_hint=option)


def _file_keys(path: Path) -> list[Any]:
    """What makes two output names one file: the path with its links followed, and for a
    file that exists its device and inode (a hard link, a case-insensitive file system)."""
    try:
        keys: list[Any] = [path.resolve()]
    except (OSError, RuntimeError):  # a link loop: check_output names it
        keys = [Path(os.path.abspath(path))]
    with contextlib.suppress(OSError):
        info = os.stat(path)
        keys.append((info.st_dev, info.st_ino))
    return keys


ModelArg = Annotated[
    Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace an existing output (never one of the inputs).")
]
