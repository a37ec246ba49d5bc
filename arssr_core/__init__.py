"""arssr_core: the model, data and metrics of the ArSSR reproduction study."""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("ARSSR_READ_LOG"):  # a notebook run by `arssr reproduce`: record the inputs it reads
    from .reads import install as _install

    _install(_os.environ["ARSSR_READ_LOG"])
