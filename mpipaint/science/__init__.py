"""The science on top of the maps: per-halo summaries of painted maps, statistics (MPE, scatter,
distribution functions with intervals) and the correction tables."""
