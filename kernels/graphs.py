"""CUDA-graph capture of the step strategy's launch sequences (one or two Triton launches per time step).

A Triton launch from Python costs ~10 µs of CPU time, so T = 1024 eager steps spend 10–25 ms launching; a replayed
graph issues the same kernels at ~2 µs per node with no Python in between (docs/PERFORMANCE.md). The launcher
(:mod:`.launch`) hands :func:`run` a key that names everything the launch sequence depends on (pass, shapes,
strides, dtypes, flags, tiles, device) and a function of tensors only. Per key:

1. first call: the function runs eagerly (this also compiles the kernels, which must not happen during capture);
2. second call: it is captured in a ``torch.cuda.CUDAGraph`` on static copies of its inputs, then replayed;
3. later calls: the inputs are copied into the static buffers, the graph replays, the outputs are cloned out of
   its static buffers (one device copy each, at memory bandwidth: ~0.1 ms for 100 MB on an H100).

Entries live in an LRU cache of ``LSTMKIT_CUDA_GRAPH_CACHE`` keys (default 8; each holds the static inputs,
outputs and scratch of one shape, e.g. ~0.5 GB for B=16, T=1024, H=768 in bf16, forward and backward together);
``LSTMKIT_CUDA_GRAPHS=0`` switches capture off. Capture is also skipped (eager launches) under TRITON_INTERPRET=1, on
CPU tensors, and while the caller is itself capturing a graph (``torch.cuda.make_graphed_callables``, inductor's
cudagraph trees): the caller's graph then records the launches directly.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable

import torch

CACHE_SIZE = int(os.environ.get("LSTMKIT_CUDA_GRAPH_CACHE", "8"))


def enabled(device: torch.device, interpreting: bool) -> bool:
    """Whether :func:`run` may capture on ``device`` now (see the module docstring)."""
    if interpreting or device.type != "cuda":
        return False
    if os.environ.get("LSTMKIT_CUDA_GRAPHS", "1").lower() in ("0", "false", "off"):
        return False
    return not torch.cuda.is_current_stream_capturing()


def capture(fn: Callable, static_inputs: tuple) -> tuple[Callable[[], None], tuple]:
    """Capture ``fn(*static_inputs)`` in a CUDA graph: returns its replay function and its (static) outputs."""
    graph = torch.cuda.CUDAGraph()
    # thread_local: backward runs on autograd's device thread; other threads' CUDA calls must not void the capture
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        outputs = fn(*static_inputs)
    return graph.replay, outputs


class GraphCache:
    """LRU cache of captured launch sequences: ``key -> (replay, static inputs, static outputs)``; a key seen once
    maps to None (ran eagerly, not captured yet)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        if size < 1:
            raise ValueError(f"LSTMKIT_CUDA_GRAPH_CACHE: expected a cache size >= 1, got {size}")
        self.size = size
        self.entries: OrderedDict[Hashable, tuple | None] = OrderedDict()

    def run(self, key: Hashable, fn: Callable, inputs: tuple) -> tuple:
        """``fn(*inputs)``: eagerly on a key's first call, from its captured graph afterwards. ``inputs`` are
        tensors (contiguous or not; copied into contiguous static buffers); ``fn`` returns a tuple of tensors
        (or None), which may alias each other: the clones returned alias alike."""
        if key not in self.entries:
            self._insert(key, None)
            return fn(*inputs)
        self.entries.move_to_end(key)
        entry = self.entries[key]
        if entry is None:
            static_inputs = tuple(x.clone(memory_format=torch.contiguous_format) for x in inputs)
            replay, static_outputs = capture(fn, static_inputs)
            entry = self.entries[key] = (replay, static_inputs, static_outputs)
        else:
            replay, static_inputs, static_outputs = entry
            for static, x in zip(static_inputs, inputs):
                static.copy_(x)
        replay()
        clones: dict[int, torch.Tensor] = {}
        return tuple(None if out is None else clones.setdefault(id(out), out.clone()) for out in static_outputs)

    def _insert(self, key: Hashable, entry) -> None:
        self.entries[key] = entry
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


CACHE = GraphCache()
