"""Cells: `nimbus server --cells N` runs N processes, one per CPU, on one port.

Cell 0, the primary, is the whole server (every API, the stores, the dispatchers, the
gateway). Cells 1..N-1 are invoke cells: each accepts connections on the same listening
socket and serves synchronous Invokes itself, with its own engine whose environments run
on its CPU, so the round trip from event loop to environment never crosses CPUs (on the
guests Nimbus is measured on that costs 10-30x a same-CPU switch; bench/README.md). A
connection's first request that is not a synchronous Invoke a cell can run hands the
connection to the primary (protocol.py, handoff.py).

What the cells share: the SQLite database and the data directory (code, logs, metering
rows), and a small shared memory (shared.py): the functions generation, bumped by the
primary after each change of a function record (a cell's cache follows it), and each
cell's invocations in flight (the account-wide concurrency limit counts them all; a
function with reserved concurrency runs in the primary only, which counts it exactly).
"""
