"""stress: Monte Carlo stress-testing of critical-mineral supply chains.

The public API; the command line is ``python -m stress``.
"""

from stress.config import Config as Config
from stress.errors import InputError as InputError
from stress.mrio.tables import Mrio as Mrio
from stress.mrio.tables import validate as validate

__version__ = "0.1.0"
