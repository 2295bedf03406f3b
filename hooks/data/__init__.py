"""Built-in, offline datasets and a loader for ``statement,label`` files.

Named ``hooks.data`` (never a top-level ``datasets``, which would shadow Hugging Face's).
"""

from hooks.data.cities import city_statements, neg_city_statements
from hooks.data.statements import BUILTIN_DATASETS, StatementDataset, load_statements

__all__ = [
    "BUILTIN_DATASETS",
    "StatementDataset",
    "city_statements",
    "load_statements",
    "neg_city_statements",
]
