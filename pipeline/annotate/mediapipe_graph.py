"""Run MediaPipe Holistic on a picture as if it were the first the graph had seen.

MediaPipe 0.10.21's Holistic keeps the previous picture's face landmarks and
reuses them as the next picture's face region when the two lie close, even in
static-image mode (reported upstream as google-ai-edge/mediapipe#4981). A photo
then gets other face points, and through them another parse map (up to 0.4 %
of its pixels here), depending on whether a near-identical picture, such as
another augmented variant of the same photo, went through the same worker just
before. The order of work differs from run to run, so the stage outputs did
too, and DVC saw new data downstream of every rerun. A tiny blank picture in
between finds nobody and so leaves nothing to reuse: each result is then a
function of its own picture alone, whatever the order or the number of workers.
It costs about 0.02 s per picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.native_logs import BLANK as _BLANK
from pipeline.native_logs import quiet_process


def process_alone(graph: Any, rgb: np.ndarray) -> Any:
    """``graph.process(rgb)`` after a blank picture has cleared what ``graph`` kept from the last one."""
    graph.process(_BLANK)
    return quiet_process(graph, rgb)
