"""Writing what a user keeps: the walk as GIF, MP4 or FITS (``export``), generated images as FITS, HDF5 or a PNG
grid (``sample_files``), the fixed-stretch colour composites every picture uses (``composite``), the FITS cube's world
coordinates (``fits_wcs``) and the one FITS writer every FITS file goes through (``fits_file``).
"""
