# Vesaki-VTON try-on API: `docker build -t vesaki-vton .` then, serving the shipped model set
# (research use only, models/viton256/LICENSE) or any bundle with gmm/ and tom/:
#   docker run -p 8000:8000 -v "$PWD/models/viton256:/models:ro" vesaki-vton
# The image holds code and libraries only; the model comes from a volume (VTON_MODEL or --model).
FROM python:3.11-slim

# libGL and glib: opencv-contrib-python (pulled in by mediapipe) links them even headless.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
RUN pip install --no-deps -e .

RUN useradd --create-home --uid 10001 vton && mkdir -p /models && chown vton /models
USER vton

# A model folder (data/train_tom/model with data/train_gmm/model, or a bundle with gmm/ and tom/),
# an ONNX export, or a models:/ URI with MLFLOW_TRACKING_URI pointing at the registry.
ENV VTON_MODEL=/models
VOLUME ["/models"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4).status == 200 else 1)"

CMD ["vton", "serve", "--host", "0.0.0.0", "--port", "8000"]
