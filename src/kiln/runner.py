"""Running plans: claim each new job, generate it, and finish it off the engine's path.

The engine works on the calling thread, one job at a time. Each result is handed to a small
pool of finishing threads that encode the PNG with its provenance, write it and its
derivatives atomically, compute the blurhash and commit the rows, while the engine is
already on the next job. A bounded number of results may wait, so memory stays flat.

Interrupts (Ctrl-C, SIGTERM) stop after the current job: finished images are kept, claimed
jobs go back to the queue, and the next ``kiln run`` resumes.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from kiln.art import content_id, stage_path, sweep_temporaries, write_atomic
from kiln.engines import Engine, EngineError, GenerateRequest, GenerateResult, Progress, create_engine
from kiln.plan import RecipePlan, record_plan
from kiln.pngmeta import png_info
from kiln.project import Project
from kiln.recipe import Job
from kiln.stages import blurhash_of, run_stages
from kiln.store import Store
from kiln.store.db import now

FINISHING_THREADS = 2
MAX_WAITING_RESULTS = 3


class RunObserver(Protocol):
    """What the runner reports as it goes; the CLI turns it into progress bars."""

    def recipe_started(self, plan: RecipePlan) -> None: ...
    def job_progress(self, plan: RecipePlan, job: Job, progress: Progress) -> None: ...
    def job_finished(self, plan: RecipePlan, job: Job, error: str | None) -> None: ...
    def recipe_finished(self, plan: RecipePlan) -> None: ...


class SilentObserver:
    def recipe_started(self, plan: RecipePlan) -> None: ...
    def job_progress(self, plan: RecipePlan, job: Job, progress: Progress) -> None: ...
    def job_finished(self, plan: RecipePlan, job: Job, error: str | None) -> None: ...
    def recipe_finished(self, plan: RecipePlan) -> None: ...


@dataclass
class RunReport:
    run_id: int = 0
    planned: int = 0
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    # The first message seen for each error code, so a summary names every kind once.
    first_errors: dict[str, str] = field(default_factory=dict)
    error_counts: Counter[str] = field(default_factory=Counter)
    per_recipe: dict[str, dict[str, int]] = field(default_factory=dict)

    def note_failure(self, recipe: str, code: str, message: str) -> None:
        self.failed += 1
        self.error_counts[code] += 1
        self.first_errors.setdefault(code, message)
        self.per_recipe[recipe]["failed"] += 1


class Runner:
    def __init__(self, project: Project, store: Store, observer: RunObserver | None = None):
        self.project = project
        self.store = store
        self.observer = observer or SilentObserver()
        self.engines: dict[str, Engine] = {}
        self._report_lock = threading.Lock()

    def run(self, plans: list[RecipePlan]) -> RunReport:
        started = time.perf_counter()
        sweep_temporaries(self.project.art_dir)
        self.store.release_stale_claims()
        report = RunReport()
        scheduled: set[str] = set()
        for plan in plans:
            record_plan(plan, self.store)
            todo = [job for job in plan.todo if job.key not in scheduled]
            scheduled.update(job.key for job in todo)
            report.planned += len(plan.jobs)
            report.skipped += len(plan.jobs) - len(todo)
            report.per_recipe[plan.recipe.name] = {
                "planned": len(plan.jobs), "existing": len(plan.jobs) - len(todo), "generated": 0, "failed": 0,
            }
        report.run_id = self.store.start_run([plan.recipe.name for plan in plans])

        pending: list[Future[None]] = []
        slots = threading.BoundedSemaphore(MAX_WAITING_RESULTS)
        status = "finished"
        try:
            with ThreadPoolExecutor(FINISHING_THREADS, thread_name_prefix="kiln-finish") as pool:
                try:
                    for plan in plans:
                        self._run_plan(plan, scheduled, report, pool, slots, pending)
                except KeyboardInterrupt:
                    report.interrupted = True
                    status = "interrupted"
                # Waiting here, not in the pool's exit, so a second Ctrl-C during the wait is
                # caught below instead of abandoning half-finished rows.
                for future in pending:
                    future.result()
        except KeyboardInterrupt:
            report.interrupted = True
            status = "interrupted"
        finally:
            for engine in self.engines.values():
                engine.close()
            report.seconds = time.perf_counter() - started
            self.store.finish_run(
                report.run_id,
                status,
                {"planned": report.planned, "generated": report.generated,
                 "skipped": report.skipped, "failed": report.failed},
            )
        return report

    def _engine(self, name: str) -> Engine:
        if name not in self.engines:
            self.engines[name] = create_engine(self.project.engine(name))
        return self.engines[name]

    def _run_plan(
        self,
        plan: RecipePlan,
        scheduled: set[str],
        report: RunReport,
        pool: ThreadPoolExecutor,
        slots: threading.BoundedSemaphore,
        pending: list[Future[None]],
    ) -> None:
        self.observer.recipe_started(plan)
        name = plan.recipe.name
        for job in plan.todo:
            if job.key not in scheduled:
                continue
            scheduled.discard(job.key)
            if not self.store.claim(job.key, report.run_id):
                with self._report_lock:
                    report.skipped += 1
                continue
            try:
                result, elapsed = self._generate(plan, job)
            except Exception as error:
                # A failing job is recorded and the run goes on; the summary reports it.
                if isinstance(error, EngineError):
                    code, message = error.code, str(error.args[0])
                else:
                    code, message = "ENGINE_EXCEPTION", f"{type(error).__name__}: {error}"
                self.store.fail(job.key, code, message, 0.0)
                with self._report_lock:
                    report.note_failure(name, code, message)
                self.observer.job_finished(plan, job, message)
                continue
            except BaseException:
                self.store.release([job.key])
                raise
            slots.acquire()
            future = pool.submit(self._finish, plan, job, result, elapsed, report, slots)
            pending.append(future)
        for future in [f for f in pending if not f.done()]:
            future.result()
        self.observer.recipe_finished(plan)

    def _generate(self, plan: RecipePlan, job: Job) -> tuple[GenerateResult, dict[str, float]]:
        spec = job.spec
        engine = self._engine(spec["engine"])

        def report_progress(progress: Progress) -> None:
            self.observer.job_progress(plan, job, progress)

        load_ms = engine.load(spec["model"], report_progress)
        request = GenerateRequest(
            model=spec["model"],
            prompt=spec["prompt"],
            negative_prompt=spec["negative_prompt"],
            width=spec["width"],
            height=spec["height"],
            seed=spec["seed"],
            steps=spec["steps"],
            guidance=spec["guidance"],
            sampler=spec["sampler"],
            references=tuple(spec["references"]),
        )
        started = time.perf_counter()
        result = engine.generate(request, report_progress)
        if result.image.size != (spec["width"], spec["height"]):
            raise EngineError(
                f"engine returned {result.image.width}x{result.image.height}, asked for {spec['width']}x{spec['height']}",
                code="WRONG_SIZE",
            )
        timings = {"load_ms": round(load_ms, 1), "generate_ms": round((time.perf_counter() - started) * 1000, 1)}
        return result, timings

    def _finish(
        self,
        plan: RecipePlan,
        job: Job,
        result: GenerateResult,
        timings: dict[str, float],
        report: RunReport,
        slots: threading.BoundedSemaphore,
    ) -> None:
        name = plan.recipe.name
        try:
            started = time.perf_counter()
            image_row, derivatives = self._save(plan, job, result, timings)
            timings["stages_ms"] = round((time.perf_counter() - started) * 1000, 1)
            image_row["timings"] = json.dumps({**result.timings_ms, **timings}, sort_keys=True)
            self.store.record_image(job.key, image_row, derivatives, timings["generate_ms"])
        except Exception as error:  # a disk or encoder failure fails this job, not the run
            message = f"{type(error).__name__}: {error}"
            self.store.fail(job.key, "STAGE_FAILED", message, timings["generate_ms"])
            with self._report_lock:
                report.note_failure(name, "STAGE_FAILED", message)
            self.observer.job_finished(plan, job, message)
        else:
            with self._report_lock:
                report.generated += 1
                report.per_recipe[name]["generated"] += 1
            self.observer.job_finished(plan, job, None)
        finally:
            slots.release()

    def _save(
        self, plan: RecipePlan, job: Job, result: GenerateResult, timings: dict[str, float]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Write the original and its derivatives; return the rows to commit."""
        spec = job.spec
        image = result.image
        provenance = {
            "engine_type": spec["engine_type"],
            "procedural": spec["engine_type"] == "placeholder",
            "template": job.template,
            "axes": job.axes,
            "engine_info": result.info,
        }
        buffer = io.BytesIO()
        # zlib level 1: measured as fast as any and no larger than level 4 on engine output.
        image.save(buffer, "PNG", pnginfo=png_info(job.key, plan.recipe.name, spec, job.template, provenance),
                   compress_level=1)
        data = buffer.getvalue()
        image_id, sha256 = content_id(data)
        art = self.project.art_dir
        original = stage_path(art, "original", image_id, "png")
        if not (original.exists() and original.stat().st_size == len(data)):
            write_atomic(original, data)
        created = now()
        derivatives = run_stages(image, image_id, art, created)
        row = {
            "id": image_id,
            "path": original.relative_to(art).as_posix(),
            "width": image.width,
            "height": image.height,
            "bytes": len(data),
            "sha256": sha256,
            "format": "png",
            "job_key": job.key,
            "recipe": plan.recipe.name,
            "prompt": spec["prompt"],
            "negative_prompt": spec["negative_prompt"],
            "model": spec["model"],
            "engine": spec["engine"],
            "seed": result.seed,
            "steps": spec["steps"],
            "guidance": spec["guidance"],
            "sampler": spec["sampler"],
            "params": json.dumps(provenance, sort_keys=True),
            "response_id": result.response_id,
            "created_at": created,
            "blurhash": blurhash_of(image),
        }
        return row, derivatives

