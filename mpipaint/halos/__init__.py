"""Halos: which ones (selection from group catalogs), their particles (read by offsets or gathered by
the slab exchange) and their twins in the DMO run (matching)."""
