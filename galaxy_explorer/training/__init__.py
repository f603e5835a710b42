"""Training pipelines: the diffusion model (``diffusion``); the redshift CNN lives beside it."""
