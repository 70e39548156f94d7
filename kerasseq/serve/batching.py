"""Dynamic micro-batching: concurrent requests for one model, merged into one onnxruntime call."""

import asyncio
import time


class MicroBatcher:
    """Runs `run_batch(rows)` once for requests (each a list of rows) that arrive close together,
    off the event loop, and hands each request its own slice of the results.

    A batch takes every request already waiting, up to `max_batch` rows. While it holds fewer rows
    than the previous batch did (concurrent traffic that has not all arrived yet), it also waits
    for more, up to `max_delay` seconds after its first request arrived; so a lone client never
    waits, and a full batch never waits for nothing. `max_batch=1` turns
    batching off: every request runs alone (a request with more rows than `max_batch` always runs
    alone, whole). `on_batch(rows)` is called with the size of every batch (for metrics).
    """

    def __init__(self, run_batch, max_batch=64, max_delay=0.005, executor=None, on_batch=None):
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, got {max_batch!r}")
        if not max_delay >= 0:
            raise ValueError(f"max_delay must be >= 0 seconds, got {max_delay!r}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.executor = executor
        self.on_batch = on_batch
        self.queue = asyncio.Queue()
        self.worker = None
        self.last_rows = 1  # rows in the previous batch

    @property
    def depth(self):
        """Requests waiting to be batched."""
        return self.queue.qsize()

    def start(self):
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self):
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
            self.worker = None

    async def submit(self, rows):
        """The results for `rows` (a list), in order."""
        if not rows:
            return []
        self.start()
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((list(rows), future, time.monotonic()))
        return await future

    async def _work(self):
        loop = asyncio.get_running_loop()
        carry = None
        while True:
            first = carry or await self.queue.get()
            carry = None
            pending, size = [first], len(first[0])
            deadline = first[2] + self.max_delay
            expected = min(self.max_batch, self.last_rows)
            while size < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or size >= expected:
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if size + len(item[0]) > self.max_batch:
                    carry = item  # it starts the next batch
                    break
                pending.append(item)
                size += len(item[0])
            await self._run(loop, pending)

    async def _run(self, loop, pending):
        pending = [(rows, future) for rows, future, _ in pending if not future.cancelled()]  # callers gone
        rows = [row for item_rows, _ in pending for row in item_rows]
        self.last_rows = max(1, len(rows))
        if not pending:
            return
        if self.on_batch is not None:
            self.on_batch(len(rows))
        try:
            results = await loop.run_in_executor(self.executor, self.run_batch, rows)
        except Exception as e:  # every caller of this batch gets the error
            for _, future in pending:
                if not future.done():
                    future.set_exception(e)
            return
        start = 0
        for item_rows, future in pending:
            if not future.done():
                future.set_result(results[start:start + len(item_rows)])
            start += len(item_rows)
