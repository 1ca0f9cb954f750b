"""Sweep progress: a tqdm bar on a terminal (configs done / total, best so far, ETA), plain lines
otherwise (logs, CI), nothing when asked for quiet."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, desc: str, mode: str | bool | None = None, stream=None):
        """mode: "bar", "lines", "off", True (bar on a terminal, else lines), False/None ("off")."""
        self.stream = stream or sys.stderr
        if mode is True:
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode or "off"
        self.total, self.desc, self.done = total, desc, 0
        self.start = time.monotonic()
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="config", file=self.stream, dynamic_ncols=True)
        elif self.mode == "lines":
            print(f"{desc}: {total} configs to measure", file=self.stream, flush=True)

    def update(self, best: str, last: str = ""):
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"best {best}", refresh=False)
            self.bar.update(1)
        elif self.mode == "lines":
            elapsed = time.monotonic() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            print(f"{self.desc}: {self.done}/{self.total} configs, best {best}, ETA {eta:.0f}s"
                  + (f" ({last})" if last else ""), file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
