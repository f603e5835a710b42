"""Measuring galaxies, one pipeline for real and generated stamps: shapes and sizes (``morphology``), aperture colours
(``photometry``), a CNN redshift (``redshift_predictor``) and its photo-z metrics (``photoz_metrics``), and the
physical scale of a redshift (``cosmology``).
"""
