"""ConvFM job recommendation: features, model, training, evaluation, checkpoints.

No web or database code lives here: `app/` turns store rows into the plain records of
`ml.records` and calls into this package.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
