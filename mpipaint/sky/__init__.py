"""Clusters on the sky: light-cone geometry, observed-frame X-ray fluxes, realisations."""
