"""Built-in, offline datasets and a loader for ``statement,label`` files.

Named ``veracity.data`` (never a top-level ``datasets``, which would shadow Hugging Face's).
Besides statements: contrast-pair prompts (for CCS), polarity pairs (A / not-A, for
polarity-aware CCS), question-answer sets with graders (for P(IK)) and a TruthfulQA loader.
"""

from veracity.data.calibrated_math import MATH_TASKS, calibrated_math
from veracity.data.chat import has_chat_template
from veracity.data.cities import city_statements, neg_city_statements
from veracity.data.contrast import CONTRAST_TEMPLATES, ContrastTemplate, chat_prompt, contrast_pairs, question_prompts
from veracity.data.numbers import larger_than_statements, neg_larger_than_statements, number_words
from veracity.data.polarity import (
    POLARITY_KINDS,
    PolarityPairs,
    negation_control,
    polarity_from_datasets,
    polarity_pairs,
    replace_negation,
)
from veracity.data.qa import (
    ARITHMETIC_LEVELS,
    QA_SETS,
    QADataset,
    QAItem,
    arithmetic_questions,
    capital_questions,
    grade,
    load_qa,
    load_questions_csv,
)
from veracity.data.statements import BUILTIN_DATASETS, StatementDataset, load_statements
from veracity.data.truthfulqa import TruthfulQA, TruthfulQAItem, load_truthfulqa

__all__ = [
    "ARITHMETIC_LEVELS",
    "BUILTIN_DATASETS",
    "MATH_TASKS",
    "CONTRAST_TEMPLATES",
    "ContrastTemplate",
    "POLARITY_KINDS",
    "PolarityPairs",
    "QADataset",
    "QAItem",
    "QA_SETS",
    "StatementDataset",
    "TruthfulQA",
    "TruthfulQAItem",
    "arithmetic_questions",
    "calibrated_math",
    "capital_questions",
    "chat_prompt",
    "city_statements",
    "contrast_pairs",
    "grade",
    "has_chat_template",
    "larger_than_statements",
    "load_qa",
    "load_questions_csv",
    "load_statements",
    "load_truthfulqa",
    "neg_city_statements",
    "neg_larger_than_statements",
    "negation_control",
    "replace_negation",
    "number_words",
    "polarity_from_datasets",
    "polarity_pairs",
    "question_prompts",
]
