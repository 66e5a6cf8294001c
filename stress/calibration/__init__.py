"""Calibration of the engine's parameters to the 2025-26 rare-earth episodes (NumPyro, NUTS).

- :mod:`~stress.calibration.observations`: the observed data (``data/*.csv``) and their loaders;
- :mod:`~stress.calibration.models`: the NumPyro models and the held-out rows;
- :mod:`~stress.calibration.fit`: :func:`calibrate` (NUTS, diagnostics, refusal, one NetCDF
  file) and :func:`load_posterior` (the draws the engine reads).
"""

from stress.calibration.fit import BUNDLED_POSTERIOR as BUNDLED_POSTERIOR
from stress.calibration.fit import CalibrationRefused as CalibrationRefused
from stress.calibration.fit import CalibrationResult as CalibrationResult
from stress.calibration.fit import calibrate as calibrate
from stress.calibration.fit import load_posterior as load_posterior
from stress.calibration.models import HELD_OUT as HELD_OUT
from stress.calibration.observations import load as load_observations
from stress.calibration.store import Posterior as Posterior

__all__ = [
    "BUNDLED_POSTERIOR", "CalibrationRefused", "CalibrationResult", "HELD_OUT", "Posterior",
    "calibrate", "load_observations", "load_posterior",
]  # fmt: skip
