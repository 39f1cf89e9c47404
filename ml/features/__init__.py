"""Model inputs for training AND serving: one code path, so no train/serve skew.

* `ml.features.fields`: the model's fields (`FIELDS`: what each is, which side it
  depends on, and why it sits where it does) and `ModelInput`, a batch of pairs;
* `ml.features.entities`: users and jobs encoded as tensors (`EntityFeatures`);
* `ml.features.matching`: the pair features that match a user against a job (skills,
  place, salary, history);
* `ml.features.space`: `FeatureSpace`, the vocabularies fitted on training data and the
  encoders from records to `EntityFeatures` and `ModelInput`.
"""

from ml.features.entities import TENSOR_FIELDS, EntityFeatures, UserSnapshots, id_key
from ml.features.fields import (
    CATEGORICAL_COLUMN,
    ENTITY_COLUMNS,
    FIELDS,
    VOCABULARIES,
    Field,
    FieldKind,
    FieldSide,
    ModelInput,
    fields_of,
)
from ml.features.matching import (
    HistoryMatch,
    dense_features_of_user,
    history_share,
    history_validity,
    proximity,
    recency_weights,
    salary_fit,
    same_key,
    skill_match,
    stack_dense,
)
from ml.features.space import FEATURE_FORMAT_VERSION, FeatureSpace, FeatureSpaceJson

__all__ = [
    "CATEGORICAL_COLUMN",
    "ENTITY_COLUMNS",
    "FEATURE_FORMAT_VERSION",
    "FIELDS",
    "TENSOR_FIELDS",
    "VOCABULARIES",
    "EntityFeatures",
    "FeatureSpace",
    "FeatureSpaceJson",
    "Field",
    "FieldKind",
    "FieldSide",
    "HistoryMatch",
    "ModelInput",
    "UserSnapshots",
    "dense_features_of_user",
    "fields_of",
    "history_share",
    "history_validity",
    "id_key",
    "proximity",
    "recency_weights",
    "salary_fit",
    "same_key",
    "skill_match",
    "stack_dense",
]
