"""Keep the native libraries' start-up chatter (MediaPipe, TFLite, absl) off the terminal.

MediaPipe's C++ graphs print warnings such as ``inference_feedback_manager.cc:114] Feedback
manager requires ...`` and ``Created TensorFlow Lite XNNPACK delegate`` straight to file
descriptor 2 when a graph starts, before absl logging is initialised, so neither Python's
logging nor ``GLOG_minloglevel`` reaches them. The only lever is the descriptor itself: while a
graph is built and warmed up, fd 2 points at a temporary file; afterwards the captured native
lines are logged at DEBUG and anything else (another thread's output) is written back.

``--log-level DEBUG`` (or ``VTON_NATIVE_LOGS=1``) leaves fd 2 alone.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from pipeline.log import get_logger

log = get_logger(__name__)

# absl/glog lines ("W0000 00:00:... file.cc:12] ..."), TFLite's "INFO: Created TensorFlow Lite ..."
# and absl's notice that it was not initialised.
_NATIVE_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:[\d.]+ |INFO: |WARNING: All log messages before absl)")
_LOCK = threading.Lock()  # fd 2 is process-wide: one redirection at a time
BLANK = np.zeros((16, 16, 3), np.uint8)  # a picture with nobody in it (also clears a graph's memory)


def native_logs_wanted() -> bool:
    """Whether the user asked to see native libraries' logs (DEBUG level or ``VTON_NATIVE_LOGS``)."""
    return bool(os.environ.get("VTON_NATIVE_LOGS")) or logging.getLogger("pipeline").isEnabledFor(logging.DEBUG)


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Capture what native code writes to fd 2 inside the block; see the module docstring."""
    if native_logs_wanted():
        yield
        return
    with _LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                captured = sink.read().decode("utf-8", errors="replace").splitlines()
        others = [line for line in captured if not _NATIVE_LINE.match(line)]
        for line in captured:
            if _NATIVE_LINE.match(line):
                log.debug("native log", line=line)
        if others:
            sys.stderr.write("\n".join(others) + "\n")


# Graphs that have seen a person: their one-off warnings (such as the landmark projection's
# "Using NORM_RECT without IMAGE_DIMENSIONS") come with the first detection, and are behind them.
_SETTLED: weakref.WeakSet[Any] = weakref.WeakSet()
_DETECTIONS = ("pose_landmarks", "detections", "multi_face_landmarks")


def quiet_process(graph: Any, rgb: np.ndarray) -> Any:
    """``graph.process(rgb)``, quietly until ``graph`` has found somebody once (then at full speed)."""
    if graph in _SETTLED or native_logs_wanted():
        return graph.process(rgb)
    with quiet_native_logs():
        result = graph.process(rgb)
    if any(getattr(result, name, None) for name in _DETECTIONS):
        _SETTLED.add(graph)
    return result


def started_graph(factory: Any, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)`` (a MediaPipe solution), built and run once on a blank picture quietly.

    The first ``process`` call starts the graph's calculators, which is when most warnings come.
    """
    with quiet_native_logs():
        graph = factory(*args, **kwargs)
        graph.process(BLANK)
    return graph
