"""mpipaint: paint the IllustrisTNG model of baryons onto dark-matter-only N-body boxes."""

__version__ = "0.1.0"
