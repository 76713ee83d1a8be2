"""The example universe: a generator of small TNG-like full-physics, DMO and lower-resolution runs
(`synth`) and the writer of their snapshots and group catalogs in the TNG (or Gadget-4) layout."""
