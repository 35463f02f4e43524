"""Sort scraped pictures into person / garment / rejected, pair them and split by product."""

from pipeline.classify.config import CATEGORIES, ClassifyConfig, GarmentRule, PersonRule
from pipeline.classify.manifest import classify_manifest, read_manifest
from pipeline.classify.pairs import ImageRecord, Pair, assign_splits, build_pairs, slug, split_products
from pipeline.classify.verdict import GARMENT, PERSON, REJECTED, ImageClassifier, Verdict

__all__ = [
    "CATEGORIES", "GARMENT", "PERSON", "REJECTED", "ClassifyConfig", "GarmentRule", "ImageClassifier",
    "ImageRecord", "Pair", "PersonRule", "Verdict", "assign_splits", "build_pairs", "classify_manifest",
    "read_manifest", "slug", "split_products",
]
