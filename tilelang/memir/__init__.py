"""The explicit-memory level: below the tile level, for targets that manage memory themselves.

See nodes.py for what a program at this level is; passes/lower_memory.py builds it from the tile
IR; backends/reference/meminterp.py runs it thread by thread (with race reports); backends/cuda
renders it as CUDA C++.
"""
