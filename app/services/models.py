"""The serving model: describe it, and swap in a new checkpoint without a restart."""

from __future__ import annotations

import logging

from app.errors import ConflictError
from app.serving.state import Serving, ServingState
from ml.checkpoint import CheckpointError

log = logging.getLogger("jobrec.models")


class ModelService:
    def __init__(self, serving: Serving) -> None:
        self.serving = serving

    def reload(self) -> tuple[str, ServingState]:
        """Load the checkpoint at the watched path and a fresh catalog, then switch to
        both at once; returns (previous model version, the new state). A checkpoint that
        does not load is a ConflictError and the previous model keeps serving."""
        previous = self.serving.state.model_version
        try:
            state = self.serving.reload()
        except CheckpointError as exc:
            log.warning("reload refused: %s", exc)
            raise ConflictError(
                f"the checkpoint was not loaded, the previous model keeps serving: {exc}"
            ) from None
        log.info("reloaded model %s -> %s", previous, state.model_version)
        return previous, state
