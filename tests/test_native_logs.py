"""Native libraries' start-up lines stay off the terminal unless asked for."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib.cbook

_NOISE = ("inference_feedback_manager", "XNNPACK", "absl::InitializeLog", "landmark_projection_calculator")


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("VTON_NATIVE_LOGS", "VTON_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**clean, **env})


def test_captured_fd2_keeps_other_output() -> None:
    code = (
        "import os\n"
        "from pipeline.native_logs import quiet_native_logs\n"
        "with quiet_native_logs():\n"
        "    os.write(2, b'W0000 00:00:1.5 x.cc:1] native noise\\n')\n"
        "    os.write(2, b'a line of our own\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    err = _run(code).stderr
    assert "native noise" not in err and "a line of our own" in err and "after" in err
    assert "native noise" in _run(code, VTON_NATIVE_LOGS="1").stderr


def test_pose_estimation_prints_no_mediapipe_lines() -> None:
    photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    code = (
        "import numpy as np\nfrom PIL import Image\n"
        "from pipeline.annotate.pose import PoseEstimator\n"
        f"rgb = np.asarray(Image.open({str(photo)!r}).convert('RGB'))\n"
        "with PoseEstimator() as est:\n"
        "    for _ in range(2):\n"
        "        est.estimate(rgb)\n"
        "print('ok')\n"
    )
    quiet = _run(code)
    assert quiet.returncode == 0 and "ok" in quiet.stdout, quiet.stderr
    assert not [n for n in _NOISE if n in quiet.stderr], quiet.stderr
    # The same run with native logs asked for shows them: the check above can fail.
    loud = _run(code, VTON_NATIVE_LOGS="1")
    assert any(n in loud.stderr for n in _NOISE)
