"""A stand-in for cn-engine that speaks its NDJSON protocol and misbehaves on request.

It answers ``ping``, ``load``, ``status``, ``generate`` (a flat image of the requested size,
coloured by the seed) and ``quit``, and appends every request it reads, as JSON, to the
``--log`` file so a test can see what the client sent. To exercise the client it also
prints a line that is not JSON at startup and, during each generate, a reply for a request
nobody sent. Misbehaviour:

``--crash-once MARKER``   SIGKILL itself in the middle of the first generate, creating
                          MARKER so that the restarted process behaves.
``--crash-always``        SIGKILL itself in the middle of every generate.
``--hang-once MARKER``    if MARKER exists, delete it and never answer that generate.
``--hang-always``         never answer a generate after its first sampling step.
``--ignore-quit``         answer quit but keep running, even after stdin closes.

Only the standard library and Pillow, so it starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image


def send(request_id: str, kind: str, data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"id": request_id, "type": kind, "data": data}) + "\n")
    sys.stdout.flush()


def log(text: str) -> None:
    print(f"[INFO ] {text}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", type=Path)
    parser.add_argument("--crash-once", type=Path)
    parser.add_argument("--crash-always", action="store_true")
    parser.add_argument("--hang-once", type=Path)
    parser.add_argument("--hang-always", action="store_true")
    parser.add_argument("--ignore-quit", action="store_true")
    args = parser.parse_args()

    log("fake-engine 1.0 (test) started. Awaiting JSON commands on stdin.")
    print("fake-engine: a line of noise that is not JSON", flush=True)
    model: str | None = None
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        request_id, cmd, params = request.get("id", ""), request.get("cmd", ""), request.get("params", {})
        if args.log:
            with args.log.open("a", encoding="utf-8") as file:
                file.write(json.dumps(request) + "\n")
        log(f"fake: {cmd}")
        if cmd == "ping":
            send(request_id, "ok", {"status": "pong"})
        elif cmd == "load":
            model = params.get("model") or params.get("diffusion_model") or "(unknown)"
            send(request_id, "ok", {"status": "model_loaded", "model_info": os.path.basename(model),
                                    "load_time_ms": 1, "upscaler_loaded": False, "upscaler_model": ""})
        elif cmd == "status":
            send(request_id, "ok", {"model_loaded": model is not None, "upscaler_loaded": False, "upscaler_model": ""})
        elif cmd == "generate":
            if model is None:
                send(request_id, "error", {"message": "No model loaded", "code": "NO_MODEL"})
                continue
            send(request_id, "progress", {"phase": "conditioning", "message": "Running text encoder..."})
            send("abandoned-1", "result", {"success": True, "output": "elsewhere.png"})
            steps = params.get("steps", 4)
            send(request_id, "progress", {"phase": "sampling", "step": 1, "total_steps": steps, "step_time_s": 0.01})
            if args.crash_always or (args.crash_once and not args.crash_once.exists()):
                if args.crash_once:
                    args.crash_once.touch()
                log("fake: crashing now")
                os.kill(os.getpid(), signal.SIGKILL)
            if args.hang_always or (args.hang_once and args.hang_once.exists()):
                if args.hang_once:
                    args.hang_once.unlink()
                log("fake: hanging now")
                time.sleep(3600)
            for step in range(2, steps + 1):
                send(request_id, "progress", {"phase": "sampling", "step": step, "total_steps": steps,
                                              "step_time_s": 0.01})
            send(request_id, "progress", {"phase": "saving", "message": "Saving output..."})
            seed = params.get("seed", 42)
            colour = (seed % 256, seed // 256 % 256, 128)
            Image.new("RGB", (params.get("width", 512), params.get("height", 512)), colour).save(params["output"])
            send(request_id, "result", {"success": True, "output": params["output"], "seed": seed,
                                        "total_time_ms": 5, "images_saved": 1, "prompt_cache_hit": False,
                                        "ref_latent_cache_hit": False, "upscaled": False, "upscale_repeats": 0})
        elif cmd == "quit":
            send(request_id, "ok", {"status": "quitting"})
            if not args.ignore_quit:
                break
        else:
            send(request_id, "error", {"message": f"Unknown command: {cmd}", "code": "UNKNOWN_CMD"})
    if args.ignore_quit:
        log("fake: ignoring quit and EOF")
        time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
