"""arssr_core: the model, data and metrics of the ArSSR reproduction study."""

__version__ = "0.1.0"
