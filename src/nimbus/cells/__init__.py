"""Cells: `nimbus server --cells N` runs N invoke cells beside the main process, each on a
CPU of its own, on one port.

The primary is the whole server (every API, the stores, the dispatchers, the gateway) and
is not pinned: the kernel places it and its threads where there is room. Only it listens;
it deals each new connection out to a cell (distribute.py). An invoke cell serves
synchronous Invokes itself, with its own engine whose environments start on its CPU, so
the round trip from event loop to environment does not cross CPUs (on the guests Nimbus
is measured on that costs 10-30x a same-CPU switch; bench/README.md). A connection's
first request that is not a synchronous Invoke a cell can run hands the connection back
to the primary (protocol.py, handoff.py).

What the processes share: the SQLite database and the data directory (code, logs,
metering rows), and a small shared memory (shared.py): the functions generation, bumped
by the primary after each change of a function record (a cell's cache follows it), and
each process' invocations in flight (the account-wide concurrency limit counts them all;
a function with reserved concurrency runs in the primary only, which counts it exactly).
"""
