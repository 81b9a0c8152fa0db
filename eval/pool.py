"""Run a function over many inputs with a fixed number in flight, handing results back on the calling thread.

Used for remote generation and for the judge: ``concurrency`` worker threads, at most ``2 x concurrency`` inputs
submitted ahead (so a long bench does not load every image at once), and results delivered in completion order to
``on_result`` on the caller's thread, which is therefore the only writer of the output file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_bounded(
    inputs: Iterable[T],
    fn: Callable[[T], R],
    on_result: Callable[[T, R | None, BaseException | None], bool | None],
    *,
    concurrency: int,
) -> None:
    """Call ``fn`` on every input with ``concurrency`` threads; ``on_result(input, result, error)`` per input.

    ``on_result`` returning True stops submitting new inputs (those already running still finish and are
    reported). With ``concurrency == 1`` everything runs on the calling thread, in order.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
    if concurrency == 1:
        for item in inputs:
            try:
                result: R | None = fn(item)
                error: BaseException | None = None
            except Exception as exc:
                result, error = None, exc
            if on_result(item, result, error):
                return
        return
    source = iter(inputs)
    stop = False
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
    pending: dict[Future[R], T] = {}
    try:
        while True:
            while not stop and len(pending) < 2 * concurrency:
                item = next(source, _END)
                if item is _END:
                    stop = True
                    break
                pending[pool.submit(fn, item)] = item  # type: ignore[arg-type]
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                error = future.exception()
                if on_result(item, None if error else future.result(), error):
                    stop = True
    finally:
        # On Ctrl-C or an error in on_result, drop what has not started; running calls end by their own timeouts.
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()
