"""Scoring users against a catalog.

* `ml.scoring.reference`: `score_catalog`, ConvFM's own forward over every pair, built
  by the training code path: what the fast scorer is checked against;
* `ml.scoring.scorer`: `CatalogScorer`, the same scores with the job-only work done once
  per catalog (the service's scorer);
* `ml.scoring.first_stage`: `FirstStage`, the model's first-order and FM terms over the
  whole catalog for a shortlist, in compiled passes (`ml.scoring.kernels`);
* `ml.scoring.pairs`: `CatalogPairs` and `PairTable`, one user's pair features against
  every catalog job.
"""

from ml.scoring.first_stage import FirstStage
from ml.scoring.pairs import CatalogPairs, PairTable
from ml.scoring.parts import Parts
from ml.scoring.reference import score_catalog
from ml.scoring.scorer import CatalogScorer

__all__ = ["CatalogPairs", "CatalogScorer", "FirstStage", "PairTable", "Parts", "score_catalog"]
