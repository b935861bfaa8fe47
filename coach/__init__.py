"""coach: a local, real-time speech coaching assistant for contact-center agents."""

__version__ = "0.1.0"
