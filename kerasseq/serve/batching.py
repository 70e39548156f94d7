"""Dynamic micro-batching: concurrent requests for one model, merged into one onnxruntime call."""

import asyncio
import time


class MicroBatcher:
    """Collects requests (each a list of rows) for `max_delay` seconds after the first one, or
    until `max_batch` rows are waiting, then runs `run_batch(rows)` once, off the event loop, and
    hands each request its own slice of the results. `max_batch=1` turns batching off: every
    request runs alone (a request with more rows than `max_batch` always runs alone, whole).

    `on_batch(rows)` is called with the size of every batch run (for metrics).
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
        await self.queue.put((list(rows), future))
        return await future

    async def _work(self):
        loop = asyncio.get_running_loop()
        while True:
            pending = [await self.queue.get()]
            size = len(pending[0][0])
            deadline = time.monotonic() + self.max_delay
            while size < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if size + len(item[0]) > self.max_batch:
                    await self._run(loop, pending, size)  # the newcomer starts the next batch
                    pending, size = [item], len(item[0])
                    deadline = time.monotonic() + self.max_delay
                    continue
                pending.append(item)
                size += len(item[0])
            await self._run(loop, pending, size)

    async def _run(self, loop, pending, size):
        pending = [(rows, future) for rows, future in pending if not future.cancelled()]  # callers gone
        if not pending:
            return
        rows = [row for item_rows, _ in pending for row in item_rows]
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
