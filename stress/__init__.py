"""stress: Monte Carlo stress-testing of critical-mineral supply chains.

The public API; the command line is ``python -m stress``.
"""

from stress.config import Config as Config
from stress.errors import InputError as InputError
from stress.mrio.tables import Mrio as Mrio
from stress.mrio.tables import validate as validate

__version__ = "0.1.0"


def _register_accessor() -> None:
    """Register the ``xr.Dataset.stress`` accessor (:mod:`stress.results.accessor`) without
    making ``import stress`` import xarray: at once when xarray is loaded already, else right
    after xarray's own import finishes (a one-shot import hook), so ``import stress`` stays as
    light as before (numpy only) and ``ds.stress`` works whichever is imported first."""
    import sys

    if "xarray" in sys.modules:
        import stress.results.accessor  # noqa: F401
        return

    class _AfterXarray:  # a meta path finder (importlib.abc not imported: it costs ~30 ms)
        def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
            if fullname != "xarray":
                return None
            spec = None
            for finder in list(sys.meta_path):  # whoever would have found xarray
                if finder is not self and hasattr(finder, "find_spec"):
                    spec = finder.find_spec(fullname, path, target)
                    if spec is not None:
                        break
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            if self in sys.meta_path:
                sys.meta_path.remove(self)  # one shot: find_spec returns before the next finder is asked
            run = spec.loader.exec_module

            def exec_module(module):  # type: ignore[no-untyped-def]
                run(module)
                try:
                    import stress.results.accessor  # noqa: F401
                except Exception as err:  # never break xarray's import for the accessor's sake
                    import warnings

                    warnings.warn(f"stress: the xarray accessor could not be registered: {err!r}", stacklevel=2)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, _AfterXarray())


_register_accessor()
