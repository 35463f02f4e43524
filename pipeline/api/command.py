"""Serve the try-on REST API (FastAPI + uvicorn); OpenAPI docs at /docs.

The model is loaded once at startup: --model (a models:/ URI, a model folder or an ONNX
export), else the API config's engine.model, else the workspace's data/train_tom/model, else the registered version marked
champion (`vton promote`), else the model shipped in models/viton256; /api/v1/health and the page
say which. Without a model the server still starts and /api/v1/health reports model_loaded: false.
"""

from __future__ import annotations

import argparse
import socket


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--model", default=None, help="models:/<name>/<version|latest>, a model folder, or an ONNX export folder")
    parser.add_argument("--backend", choices=("torch", "onnx"), default=None, help="inference backend (default torch)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="device (default auto)")
    parser.add_argument("--config", default=None, help="API config YAML (limits, queue, batch policy, engine options)")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit status."""
    import dataclasses
    import os
    import sys
    from pathlib import Path

    given = args.model if args.model is not None else os.environ.get("VTON_MODEL")
    if given and not given.startswith("models:/") and not Path(given).exists():
        # Checked before uvicorn, torch and MediaPipe load: a typo answers at once, not after seconds.
        sys.stderr.write(f"vton serve: --model {given} does not exist (a model folder, an ONNX export folder or models:/<name>/<version>)\n")
        return 2

    import uvicorn

    from pipeline.api.app import create_app
    from pipeline.api.config import ApiConfig
    from pipeline.api.slow_clients import server_config
    from pipeline.infer.types import EngineConfig
    from pipeline.log import get_logger

    log = get_logger(__name__)
    try:
        config = ApiConfig.from_yaml(args.config) if args.config else ApiConfig()
        engine = dict(config.engine)
        # The container passes the model by environment (VTON_MODEL), the command line wins.
        model = args.model if args.model is not None else os.environ.get("VTON_MODEL")
        for key, value in (("model", model), ("backend", args.backend), ("device", args.device)):
            if value is not None:
                engine[key] = value
        EngineConfig.from_dict(engine)  # bad engine options stop here, not after startup
        config = dataclasses.replace(config, engine=engine)
    except ValueError as exc:
        log.error("bad API configuration", error=str(exc))
        return 2
    try:
        # Bound before the model loads, so a taken port fails at once with a clear message.
        sock = _bind(args.host, args.port)
    except OSError as exc:
        log.error("cannot listen", host=args.host, port=args.port, error=str(exc))
        return 1
    app = create_app(config)
    log.info("serving the try-on API", url=f"http://{args.host}:{args.port}", docs=f"http://{args.host}:{args.port}/docs")
    server = uvicorn.Server(server_config(app, config, host=args.host, port=args.port))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock
