"""`serve --workers N`: uvicorn's supervisor of worker processes, taking signals as one
process does (README "Signals"), replacing a worker that dies with a warning, and stopping
every worker within --timeout-shutdown and WORKER_STOP_GRACE, a hung one too."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from topicclf.errors import TopicclfError
from topicclf.server.http import log
from topicclf.server.run import IGNORED_SIGNALS, STOP_SIGNALS, ServeConfig, hold_stop_signals

# Seconds a worker may take past --timeout-shutdown (or past a second stop signal) before
# the supervisor kills it: its own stop ends its requests at --timeout-shutdown.
WORKER_STOP_GRACE = 5.0


def run_workers(
    config: ServeConfig,
    sock: socket.socket,
    announce: Callable[[str, int], None],
    host: str,
    port: int,
) -> None:
    """Announce, then supervise `--workers` worker processes serving on `sock` until told
    to stop (KeyboardInterrupt, as one process ends), or TopicclfError when one could not
    start."""
    from multiprocessing import resource_tracker

    from uvicorn.supervisors import Multiprocess
    from uvicorn.supervisors.multiprocess import Process

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, saying at warning level when a worker died and is replaced
        (uvicorn says so at info level, which the log leaves out), and taking signals as one
        process does (README "Signals"): uvicorn restarted every worker on SIGHUP, added one
        on SIGTTIN, and a second SIGTERM did not force the stop."""

        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            super().__init__(config, sockets)
            self.stop_signals = 0
            for sig in STOP_SIGNALS:
                signal.signal(sig, self.stop_signal)
            for sig in IGNORED_SIGNALS:  # SIGTTIN and SIGTTOU: a warning (handle_ttin)
                if sig.name not in ("SIGTTIN", "SIGTTOU"):
                    signal.signal(sig, signal.SIG_IGN)

        def stop_signal(self, signum: int, frame: FrameType | None) -> None:
            """Count and queue a stop signal; the main thread acts on it (this handler may
            run inside any of its steps)."""
            self.stop_signals += 1
            self.signal_queue.append(signum)

        def run(self) -> None:
            """uvicorn's loop (start the workers, act on signals, replace a dead worker,
            then stop them), but a stop signal is acted on within 0.05 s, not 0.5 s, and the
            supervisor stops listening before it stops the workers. It kept its copy of the
            listening socket until every worker ended: the kernel took each new connection
            during the stop, nobody read it, and it was reset when the stop ended (up to
            --timeout-shutdown; one process refuses it at once; attacker pass 37)."""
            logging.getLogger("uvicorn.error").info("Started parent process [%d]", os.getpid())
            self.init_processes()
            checked = time.monotonic()
            while not self.should_exit.wait(0.05):
                self.handle_signals()
                if time.monotonic() >= checked + 0.5 and not self.should_exit.is_set():
                    self.keep_subprocess_alive()
                    checked = time.monotonic()
            self.stop_listening()
            self.terminate_all()
            self.join_all()

        def stop_listening(self) -> None:
            """Close the supervisor's copy of the listening sockets: once each worker has
            closed its own (first thing in its graceful stop), new connections are refused,
            as with one process. No worker is started after this."""
            for sock in self.sockets:
                sock.close()

        def handle_hup(self) -> None:
            """Stop, as on SIGTERM."""
            self.should_exit.set()

        handle_quit = handle_hup

        def handle_ttin(self) -> None:
            """Keep the worker count: --workers, at most one per core."""
            log.warning(
                "SIGTTIN and SIGTTOU are ignored: the server keeps its %d worker process(es) "
                "(--workers, at most one per core)",
                self.processes_num,
            )

        handle_ttou = handle_ttin

        def join_all(self) -> None:
            """Wait for every worker to end. After a second stop signal each one still
            running gets SIGINT, which forces a stop under way (uvicorn's rule): the main
            thread waits here, deaf to the signals it queues. Not sooner than 0.25 s after
            the SIGTERM terminate_all sent, so a worker takes that one first."""
            stopping = time.monotonic()
            # A worker whose main thread is deadlocked (memory ran out inside a lock) takes
            # no signal: the stop waited for it for ever, a second signal too (attacker pass
            # 39). Past --timeout-shutdown and WORKER_STOP_GRACE, or WORKER_STOP_GRACE after
            # a forced stop, it is killed.
            graceful = self.config.timeout_graceful_shutdown or 0
            deadline = stopping + graceful + WORKER_STOP_GRACE
            forced = False
            for process in self.processes:
                killed = False
                while process.process.exitcode is None:
                    now = time.monotonic()
                    if not forced and self.stop_signals > 1 and now > stopping + 0.25:
                        forced = True
                        deadline = min(deadline, now + WORKER_STOP_GRACE)
                        for other in self.processes:
                            if other.process.exitcode is None and other.pid is not None:
                                with suppress(ProcessLookupError):
                                    os.kill(other.pid, signal.SIGINT)
                    if now > deadline and not killed:
                        killed = True
                        log.warning(
                            "worker process [%s] did not stop within --timeout-shutdown and "
                            "%g s more; killed it",
                            process.pid,
                            WORKER_STOP_GRACE,
                        )
                        process.kill()
                    process.process.join(0.05)

        def init_processes(self) -> None:
            """Start the workers, each with its stop signals held (`hold_stop_signals`)."""
            for _ in range(self.processes_num):
                self.processes.append(self.start_worker())

        def start_worker(self) -> Process:
            """A worker process, started with its stop signals held."""
            # Started first, if it is not running: starting it unblocks SIGINT and SIGTERM
            # (multiprocessing's resource tracker), the hold with them.
            resource_tracker.ensure_running()
            process = Process(self.config, self.sockets)
            with hold_stop_signals():
                process.start()
            return process

        def keep_subprocess_alive(self) -> None:
            """Replace a worker that died, with a warning, unless the server is stopping:
            uvicorn checked that only between its checks of the workers, each of which waits
            up to 5 s for a worker still starting, so a worker ended by the stop signal the
            supervisor had too (Ctrl-C and systemd signal every process) was replaced."""
            for index, process in enumerate(self.processes):
                if self.should_exit.is_set() or self.stop_signals:
                    return
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                hung = process.exitcode is None
                process.kill()  # hung, if still running
                process.join()
                if process.exitcode == STARTUP_FAILURE:  # its models fail to load: no retry
                    logging.getLogger("uvicorn.error").error(
                        "Child process [%s] failed to start, stopping the parent process.",
                        process.pid,
                    )
                    self.should_exit.set()
                    return
                if self.should_exit.is_set() or self.stop_signals:
                    return
                # The health check's own kill is said as such: "killed by SIGKILL" read as
                # the out-of-memory killer's or an operator's (attacker pass 39).
                ended = (
                    f"did not answer the health check within "
                    f"{self.config.timeout_worker_healthcheck:g} s, so it was killed"
                    if hung
                    else _how_it_ended(process.exitcode)
                )
                log.warning("worker process [%s] %s; starting a replacement", process.pid, ended)
                self.processes[index] = self.start_worker()

    announce(host, port)
    supervisor = Supervisor(config, sockets=[sock])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise TopicclfError(
            "a worker process could not start (did its models change on disk?); see the log above"
        )
    logging.getLogger("topicclf.server").info("all workers stopped")
    raise KeyboardInterrupt  # the supervisor returns only once told to stop, like Ctrl-C


def _how_it_ended(exitcode: int | None) -> str:
    """'exited with code 1', 'was killed by SIGKILL': a process's end as Process.exitcode
    tells it (minus the signal number for a signal)."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"
