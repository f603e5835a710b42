"""Reading and normalizing: survey files in the GalaxiesML schema (``survey``), the invertible flux <-> model-space
map every checkpoint carries (``normalization``), and the checkpoint format itself (``checkpoint``).
"""
