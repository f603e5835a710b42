"""Writing what a user keeps: the walk as GIF, MP4 or FITS (``export``), the fixed-stretch colour composites every
picture uses (``composite``) and the FITS cube's world coordinates (``fits_wcs``).
"""
