"""Readers and writers for TNG/AREPO/Gadget-4 HDF5 snapshots, group catalogs and mpipaint tables."""
