"""Projected maps: CIC and SPH-kernel deposition, gas maps, X-ray emissivity."""
