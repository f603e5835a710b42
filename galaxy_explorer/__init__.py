"""Galaxy Explorer: see what a redshift-conditioned diffusion model has learned about galaxy evolution."""

__version__ = "0.1.0"

BANDS = ("g", "r", "i", "z", "y")
"""HSC broad bands in the order GalaxiesML stores them along the image channel axis."""
