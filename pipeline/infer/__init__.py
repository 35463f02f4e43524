"""Inference on raw pictures: ``TryOnEngine.load(EngineConfig(...)).tryon(person, garment)``.

``pipeline.infer.engine.TryOnEngine``, ``pipeline.infer.types.EngineConfig`` /
``TryOnError`` / ``TryOnResult`` and ``pipeline.infer.models.ModelNotFound``.
Nothing is imported here, so that loading a model (``pipeline.infer.models``,
which the evaluate stage uses) does not pull in the whole annotation chain.
"""
