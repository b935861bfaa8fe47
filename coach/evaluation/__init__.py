"""Measure findings against labelled truth: per-category precision, recall and F1.

A QA team labels some calls (one truth file per call, see docs/eval.md), scores
them with `coach score`, and compares. This module reads both sides as plain
dicts (the per-call JSON contract and the truth format), so it depends on no
internal class of the scorer and keeps working while the core moves.

Matching, in one place so the docs and tests can pin it:

* line-level findings match a truth event of the same category and speaker
  (a truth event without a speaker takes any) whose span overlaps theirs once
  both are widened by the tolerance; each truth event takes at most one
  prediction (the most overlapping, without stealing another event's only
  match); a further prediction that could have matched an already taken event
  is a duplicate and counts as a false positive;
* call-level categories compare as booleans per call (any event of the
  category = found); a category missing from the truth's `call` object is not
  judged;
* a line-level category is judged in a call when the truth's `labelled` lists
  it, or when `labelled` is absent and the category is one of the contract's
  line-level categories; predictions of categories not judged are ignored.
"""

from __future__ import annotations

from coach.evaluation.compare import compare_call, evaluate, format_report, match_spans
from coach.evaluation.loading import load_result_file, load_results, load_truth, load_truth_file
from coach.evaluation.model import (
    BUILTIN_GROUPS,
    CALL_CATEGORIES,
    CATEGORY_ORDER,
    LINE_CATEGORIES,
    TRUTH_SUFFIXES,
    EvalInputError,
    EvalOptions,
    Mismatch,
    Report,
    ResultCall,
    Span,
    Tally,
    TruthCall,
    macro_f1,
    micro,
    summary_dict,
)

__all__ = [
    "BUILTIN_GROUPS", "CALL_CATEGORIES", "CATEGORY_ORDER", "LINE_CATEGORIES", "TRUTH_SUFFIXES",
    "EvalInputError", "EvalOptions", "Mismatch", "Report", "ResultCall", "Span", "Tally", "TruthCall",
    "compare_call", "evaluate", "format_report", "load_result_file", "load_results", "load_truth",
    "load_truth_file", "macro_f1", "match_spans", "micro", "summary_dict",
]
