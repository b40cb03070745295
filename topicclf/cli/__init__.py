"""The `topicclf` command line: each command parses, makes one core call and renders.

`common` holds the app, shared options, progress, output checks and exit codes; the commands
register themselves on that app from `model` (train, evaluate, optimize, info, tune), `tag`
(tag, explain), `serve` and `corpus` (corpus and report groups). `run` maps errors to exit
codes in one place. Heavy modules (numpy, scikit-learn, TensorFlow) are imported inside the
commands that need them, so `topicclf --help`, `info` and `corpus stats` start fast and never
load TensorFlow. Results go to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import io
import os
import signal
import sys
import traceback
import warnings
from typing import Any


def _started_as_the_command() -> bool:
    """Whether this process is the `topicclf` command starting (`python -m topicclf`, or
    the console script, a script named topicclf), not a program that imports the CLI."""
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "topicclf.__main__")
    script = os.path.basename(getattr(main_module, "__file__", None) or "")
    return script in ("topicclf", "topicclf-script.py")


def _hold_stop_signals() -> set[int | signal.Signals] | None:
    """Block the stop signals until `run` takes them (`_take_held_signals`): one that came
    while the modules below loaded (about 0.5 s) was the interpreter's: a KeyboardInterrupt
    traceback for Ctrl-C, a silent 143 for SIGTERM, where the same signal a moment later
    printed `interrupted` with 130. `serve` stops on SIGHUP and SIGQUIT too (README
    "Signals"). The mask as it was, or None when nothing is held (an importing program,
    whose signals are its own, or no signal masks on this platform)."""
    if not hasattr(signal, "pthread_sigmask") or not _started_as_the_command():
        return None
    held = [signal.SIGINT, signal.SIGTERM]
    if _command(sys.argv[1:]) == "serve":
        held += [signal.SIGHUP, signal.SIGQUIT]
    return signal.pthread_sigmask(signal.SIG_BLOCK, held)


def _command(args: list[str]) -> str | None:
    """The command named on a command line (its first word that is not an option)."""
    return next((a for a in args if not a.startswith("-")), None)


_mask_before = _hold_stop_signals()

# The modules imported below live as long as the process: the cyclic collector is paused
# while they load (as `common.pause_gc` pauses it while `tag` starts), and back as it was.
_collecting = gc.isenabled()
gc.disable()
try:
    import typer

    from topicclf.cli import corpus, model, serve, tag  # noqa: F401 - each registers its commands
    from topicclf.cli.common import (
        EXIT_BROKEN_PIPE,
        EXIT_DOMAIN,
        EXIT_INTERRUPTED,
        EXIT_USAGE,
        app,
        close_progress,
        err,
        pause_gc,
        resume_gc,
        show_warning,
        state,
        stdout_error,
        stop_progress,
    )
    from topicclf.errors import TopicclfError
    from topicclf.reports.safe import TERMINAL_MAX_CHARS, escape, one_line
finally:
    if _collecting:
        gc.enable()

__all__ = ["app", "main", "run"]

_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 domain error, 2 usage, 3 gate not met."""
    saved_showwarning = warnings.showwarning
    try:
        # First thing in this try: a stop signal held since start-up is taken here, as
        # one that comes later is (KeyboardInterrupt, below).
        _take_held_signals()
        args = list(sys.argv[1:] if argv is None else argv)
        # -q/-v are global options, but people type them after the command too; accept both.
        cut = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:cut] if a in _GLOBAL_FLAGS]
        args = flags + [a for a in args[:cut] if a not in _GLOBAL_FLAGS] + args[cut:]
        state.verbose = state.quiet = False
        spaced = _spaced_setting(args[:cut])
        if spaced:
            err.print(f"[red]error:[/] {escape(spaced)}")
            return EXIT_USAGE
        warnings.showwarning = show_warning
        result = app(args=args, prog_name="topicclf", standalone_mode=False)
        _flush_stdout()
        if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C (and our SIGTERM) into exit 130
            stop_progress()
            err.print("interrupted")
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # click's own handling: exit(1)
            return EXIT_BROKEN_PIPE
        raise
    except (typer.Abort, KeyboardInterrupt) as exc:
        if isinstance(exc.__cause__, EOFError):
            # click turns any EOFError into Abort (meant for Ctrl-D at a prompt, and topicclf
            # prompts for nothing): one from reading damaged data is a bug, not "interrupted".
            return _internal_error(exc.__cause__)
        stop_progress()
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        if isinstance(getattr(exc, "message", None), str):
            # A value the user gave, in a message of ours (`str(ConfigError)`), is one line
            # with its controls shown, as in every `error:` line; click writes it as text.
            exc.message = one_line(exc.message)
            if len(exc.message) > TERMINAL_MAX_CHARS:  # a value of 100,000 characters, echoed
                shown = f"{exc.message[:TERMINAL_MAX_CHARS]}... ({len(exc.message):,} characters)"
                exc.message = shown
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[red]error:[/] {escape(str(exc))}")
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except TopicclfError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_DOMAIN
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly with the status a Unix tool
        # killed by SIGPIPE has, not 1, which says the data or model is wrong.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[red]error:[/] {escape((exc.strerror or str(exc)) + where)}")
        return EXIT_DOMAIN
    except UnicodeEncodeError as exc:  # data on a stream that cannot hold it: never altered
        char = exc.object[exc.start : exc.end]
        err.print(
            f"[red]error:[/] cannot write {escape(repr(char))} in the output's encoding "
            f"({exc.encoding}); set PYTHONIOENCODING=utf-8 (or a UTF-8 locale), or write to a "
            "file with --output"
        )
        return EXIT_DOMAIN
    except Exception as exc:  # the last line of defence: a bug, said plainly
        return _internal_error(exc)
    finally:
        close_progress()
        warnings.showwarning = saved_showwarning


def _take_held_signals() -> None:
    """Unblock the stop signals `_hold_stop_signals` held, once: one that came meanwhile
    is handled now."""
    global _mask_before
    if _mask_before is not None:
        mask, _mask_before = _mask_before, None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _internal_error(exc: BaseException) -> int:
    """Say that `exc` is a bug (its traceback with -v), and return the exit code."""
    if state.verbose:
        # Each line escaped on its own: a traceback is the one message of many lines.
        lines = traceback.format_exception(exc)
        for line in "".join(lines).rstrip("\n").split("\n"):
            err.print(escape(line, limit=None))
    summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    err.print(
        f"[red]error:[/] internal error: {escape(summary)}; please report it "
        "(run with -v for the traceback)"
    )
    return EXIT_DOMAIN


def _flush_stdout() -> None:
    """Write out what the command printed: the last of it was written only at exit, where a
    full disk or `ulimit -f` cut it silently (a broken JSON record, exit 0)."""
    if sys.stdout is None:  # started with stdout closed: nothing was printed
        return
    try:
        sys.stdout.flush()
    except OSError as exc:
        raise stdout_error(exc) from None


def _spaced_setting(args: list[str]) -> str | None:
    """The message for `--set key value` (a space where `=` belongs), which the parser
    would only call an unexpected extra argument."""
    for option, key, value in zip(args, args[1:], args[2:], strict=False):
        if option == "--set" and "=" not in key and "." in key and not value.startswith("-"):
            return (
                f"--set {key!r}: expected section.key=value with no space around '=', "
                f"e.g. --set {key}={value}"
            )
    return None


def _terminated(signum: int, frame: Any) -> None:
    # Unwind like Ctrl-C, so atomic writes remove their temporary files and directories.
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminated)
    command = _command(sys.argv[1:])
    if command == "serve":
        # As `serve` takes them once it runs (README "Signals"): by default they killed it
        # while it started (129, 131), where a moment later they stopped it with 130.
        for signum in (signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, _terminated)
    _write_stdout_whole()
    if command == "tag":
        pause_gc()  # until the model is loaded (tag resumes it) or the command ends
    try:
        code = run()
    finally:
        resume_gc()
    _leave(code)


class _WholeWrites(io.RawIOBase):
    """A file descriptor written to until all of each write is taken or an error says why:
    Python's own buffered stdout took a short write (the disk filling, `ulimit -f`) as
    done and never wrote the rest, so the last of an output was lost with exit 0."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        """Always: it is the output."""
        return True

    def fileno(self) -> int:
        """The descriptor written to."""
        return self._fd

    def isatty(self) -> bool:
        """Whether the descriptor is a terminal."""
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        """Write all of `data`, or raise the error that stopped it."""
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            written = os.write(self._fd, view[done:])
            if written == 0:
                raise OSError(errno.EIO, "the output took none of a write")
            done += written
        return done


def _write_stdout_whole() -> None:
    """Give sys.stdout a writer that never drops the rest of a short write (_WholeWrites),
    with the same encoding, error handling and line buffering."""
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper) or not isinstance(
        stream.buffer, io.BufferedWriter | io.FileIO
    ):
        return  # closed, or not the interpreter's own stdout (a FileIO: PYTHONUNBUFFERED)
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    stream.flush()
    raw = _WholeWrites(fd)
    # Unbuffered as it was under PYTHONUNBUFFERED (a FileIO, written through), else buffered.
    buffered = isinstance(stream.buffer, io.BufferedWriter)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw) if buffered else raw,  # type: ignore[arg-type]
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=stream.write_through,
    )


def _leave(code: int) -> None:
    """Exit with `code` once the command is done: the atexit work (logging, temporary
    files, a local Dask cluster) runs unless the command was interrupted, the output is
    flushed, and the interpreter's own teardown is skipped. That teardown took about a
    second after a training, with the signal handlers already gone: a SIGTERM in it
    killed the process (143, no message), and threads of TensorFlow or joblib still in
    native code could abort it (SIGABRT instead of 130, seen once in CI after SIGTERM
    during training). A signal now arriving after the work is done exits with the work's
    own code."""
    import atexit

    def done(signum: int, frame: Any) -> None:
        _flush_and_exit(code)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, done)
    if code != EXIT_INTERRUPTED:
        # Not after an interrupt: TensorFlow's exit handlers, run while its threads were
        # still in the interrupted step, crashed the process once in CI (SIGSEGV, not 130).
        # What an interrupt leaves is cleaned up as it unwinds (atomic writes).
        atexit._run_exitfuncs()
    _flush_and_exit(code)


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
