"""One progress bar for every long loop: training epochs, AIS, MCMC chains, the tour.

``tqdm.auto`` picks a terminal bar or a notebook widget; there is no ``isatty`` gate, so
Jupyter shows it too. A bar appears only once its loop has run for ``DELAY`` seconds, so
quick calls (tests, small models) stay silent; ``verbose=False`` turns it off.
"""

from __future__ import annotations

#: seconds a loop runs before its bar appears
DELAY = 1.0


class _Off:
    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kw):
        pass

    def close(self):
        pass


def progress(total: int, desc: str, verbose: bool = True, *, initial: int = 0,
             unit: str = "it"):
    """A ``tqdm.auto`` bar over ``total`` steps (a no-op object when ``verbose`` is off)."""
    if not verbose:
        return _Off()
    return _tqdm()(total=total, initial=initial, desc=desc, unit=unit, leave=False,
                   delay=DELAY)


def _tqdm():
    """``tqdm.auto`` (a widget in notebooks) when ipywidgets is installed, else the text bar,
    which notebooks show as well (tqdm.auto would warn and fall back to it anyway)."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm
