"""The built-in synthetic HSC-like survey: galaxies with known physics, rendered in torch (CPU or CUDA).

This survey is SYNTHETIC. It exists so that Galaxy Explorer works with nothing downloaded, and so that what a
model learns can be checked against known truth. Results on it say nothing about real galaxies.

    from galaxy_explorer.synthetic import SyntheticSurvey
    batch = SyntheticSurvey(seed=1).sample(256)   # {'image': (256,5,64,64), 'specz_redshift': (256,), 'true_*': ...}
"""

from galaxy_explorer.synthetic.mock_file import write_mock_survey
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA
from galaxy_explorer.synthetic.synthetic_survey import TRUTH_COLUMNS, SyntheticSurvey, true_median_size_arcsec

__all__ = ["SyntheticSurvey", "true_median_size_arcsec", "write_mock_survey", "TRUTH_COLUMNS", "SKY_NOISE_SIGMA"]
