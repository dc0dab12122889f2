"""fleming: reproduce and improve the Fleming-R1 recipe for verifiable medical reasoning."""

__version__ = "0.1.0"
