"""Code that runs inside execution environments, under the function's own interpreter.

Stdlib only, Python 3.9 compatible, imported lazily: the zygote loads these
files by path, never the rest of Nimbus.
"""
