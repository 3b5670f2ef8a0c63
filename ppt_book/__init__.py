__version__ = "0.1.0"

# Saved students load like any transformers model: their classes are registered with the Auto classes (and so with
# `pipeline`) when ppt_book is imported. This is the one thing the package does at import; nothing runs from a model folder.
from .distill import register_students as _register_students

_register_students()
