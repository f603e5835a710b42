"""Galaxy Explorer: see what a redshift-conditioned diffusion model has learned about galaxy evolution."""

from galaxy_explorer.instrument import BANDS

__version__ = "0.1.0"

__all__ = ["BANDS", "__version__"]
