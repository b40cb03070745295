"""Dynamic batching: the short requests waiting for one model are tagged in one call.

Scoring one short text costs about a millisecond, nearly all of it per call (building
sparse matrices, one matrix product); a hundred texts in one call cost about fifteen. Under
load, the requests that arrive while a batch is computed form the next batch, so latency
stays near one call's time instead of the queue of calls. A text's topics do not depend on
the other texts of its call (the same holds for `topicclf tag --batch-size`), and requests
are batched only with others under the same Rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import Context
from itertools import groupby

from topicclf.config import SERVE_BATCH_TEXTS, SERVE_BATCH_YIELDS
from topicclf.model.thresholds import Rule

Topics = list[list[tuple[str, float]]]
Runner = Callable[[list[str], Rule], Awaitable[Topics]]
_Item = tuple[list[str], Rule, "asyncio.Future[Topics]"]


class Batcher:
    """Collects tagging requests and runs them through `run` in batches, one at a time."""

    def __init__(self, run: Runner, max_texts: int = SERVE_BATCH_TEXTS) -> None:
        self.run = run
        self.max_texts = max_texts
        self.pending: list[_Item] = []
        self.draining: asyncio.Task[None] | None = None  # held: the loop keeps weak references

    async def submit(self, texts: list[str], rule: Rule) -> Topics:
        """The topics of `texts`, computed in a batch with other waiting requests."""
        future: asyncio.Future[Topics] = asyncio.get_running_loop().create_future()
        self.pending.append((texts, rule, future))
        if self.draining is None:
            # A context of its own: the batches it runs serve many requests, so the first
            # one's stop event (topicclf.cancel, set once it is answered) must not stop
            # them (later clients got 500 and 503).
            drain = self._drain()
            self.draining = asyncio.get_running_loop().create_task(drain, context=Context())
        return await future

    def _take(self) -> list[_Item]:
        taken: list[_Item] = []
        count = 0
        while self.pending and (not taken or count + len(self.pending[0][0]) <= self.max_texts):
            item = self.pending.pop(0)
            count += len(item[0])
            taken.append(item)
        return taken

    async def _drain(self) -> None:
        try:
            while self.pending:
                # A few loop turns (microseconds when idle): requests whose bytes are already
                # here, on new connections too, get parsed and join this batch.
                for _ in range(SERVE_BATCH_YIELDS):
                    await asyncio.sleep(0)
                batch = sorted(self._take(), key=lambda item: hash(item[1]))
                for _, group in groupby(batch, key=lambda item: item[1]):
                    await self._run_group(list(group))
        finally:
            self.draining = None

    async def _run_group(self, group: list[_Item]) -> None:
        texts = [text for item in group for text in item[0]]
        try:
            topics = await self.run(texts, group[0][1])
        except Exception as exc:
            if len(group) > 1:  # one request's text must not fail the others: each alone
                for item in group:
                    if not item[2].done():  # a request whose client left is cancelled
                        await self._run_group([item])
                return
            _, _, future = group[0]  # the request gets the failure, and the server logs it
            if not future.done():
                future.set_exception(exc)
            return
        start = 0
        for item_texts, _, future in group:
            if not future.done():  # a request whose client left is cancelled
                future.set_result(topics[start : start + len(item_texts)])
            start += len(item_texts)
