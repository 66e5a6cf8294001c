"""The run's Dataset (:mod:`stress.results.dataset`) and the ``.stress`` accessor that reads
risk metrics from it (:mod:`stress.results.accessor`, registered on import)."""

from stress.results import accessor as accessor
