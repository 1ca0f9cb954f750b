"""Winograd F(m, r) transforms: exact Toom-Cook construction and verification,
conditioning / float16 error analysis, and an evolution-strategy point search
with an on-disk cache.  See ``docs/winograd.md``.

Main entry point for the compiler: :func:`best_transform`.
"""
from .cache import best_transform, cache_dir, cache_path, cached_search
from .conditioning import condition_numbers, fp16_errors, vandermonde_cond
from .pointsets import classic_points, integer_points, layout, positive_candidates
from .report import comparison_rows, describe, markdown_table
from .search import OBJECTIVES, SearchResult, exhaustive_points, objective_value, search_points
from .toomcook import (
    WinogradTransform,
    build_transform,
    format_point,
    parse_point,
    verify,
    verify_1d,
    verify_2d,
    verify_2d_symbolic,
)

__all__ = [
    "WinogradTransform", "build_transform", "verify", "verify_1d", "verify_2d",
    "verify_2d_symbolic", "parse_point", "format_point",
    "condition_numbers", "fp16_errors", "vandermonde_cond",
    "integer_points", "classic_points", "layout", "positive_candidates",
    "SearchResult", "OBJECTIVES", "search_points", "exhaustive_points", "objective_value",
    "best_transform", "cached_search", "cache_dir", "cache_path",
    "describe", "comparison_rows", "markdown_table",
]
