"""Ahead-of-time output for deployment with no Python: complete manifests, C launchers, dispatchers.

`manifest.py` describes one compiled binary in a backend-neutral JSON form (docs/deployment.md);
`clib.py` turns manifests into a C header and source with one function per kernel; `dispatch.py`
adds an entry point that picks among several compiled configs of one kernel by the call's shapes;
`build.py` drives it all for `tilelang compile`.
"""
