"""Running plans: claim each new job, generate it, and finish it off the engine's path.

Each engine gets a *lane*. A local engine's lane runs one job at a time on the calling
thread (one accelerator, kept busy). A remote engine's lane runs up to its ``concurrency``
jobs on worker threads. Every engine call, retries included, first passes the lane's rate
limiter, and a ``Retry-After`` from the server pauses the whole lane, not only its job. Either
way a result is handed to a small pool of finishing threads that encode the PNG with its
provenance, write it and its derivatives atomically, compute the blurhash and commit the rows
while the engine is already on the next job. At most a few results wait, so memory stays flat.

Failures follow the engine's policy (:mod:`kiln.policy`): retryable errors are tried again
with exponential backoff (longer if the server says ``Retry-After``), fatal ones are not, and
after ``auto_pause_after`` failures in a row the run stops with every unstarted job still
queued. Every engine call is recorded in the ``attempts`` table, and so is every call an
engine recovered from by restarting itself.

Interrupts (Ctrl-C, SIGTERM) stop after the jobs in hand: finished images are kept, claimed
jobs go back to the queue, and the next ``kiln run`` resumes.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from kiln.art import sweep_temporaries
from kiln.engines import (
    Engine, EngineError, GenerateRequest, GenerateResult, Progress, Restarted, check_engines, engine_class,
    name_log, open_engine,
)
from kiln.errors import InputError, KilnError
from kiln.finishing import finishing_workers, image_row, worker_pool, write_image_files
from kiln.plan import RecipePlan, record_plan
from kiln.policy import Policy, RateLimiter
from kiln.project import Project
from kiln.recipe import Job
from kiln.reference_images import ReferencePreparer
from kiln.store import Store
from kiln.store.db import Replaced, now, stamp, write_failure
from kiln.store.leases import Heartbeat

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
    deleted: int = 0  # jobs passed over because the user deleted their image
    failed: int = 0
    retries: int = 0
    interrupted: bool = False
    paused: str | None = None
    crashed: bool = False  # stopped by an error of kiln's own, not a job's
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # The first message seen for each error code, so a summary names every kind once.
    first_errors: dict[str, str] = field(default_factory=dict)
    error_counts: Counter[str] = field(default_factory=Counter)
    per_recipe: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.crashed:
            return "failed"
        if self.paused:
            return "paused"
        return "interrupted" if self.interrupted else "finished"


@dataclass
class _Outcome:
    """What a failed engine call means for its job."""

    code: str
    message: str
    retry: bool
    retry_after_s: float | None


class _Stopping(Exception):
    """The run stopped while a job waited for its turn at the rate limiter."""


@dataclass
class _Call:
    """The engine call in progress for one job: its attempt number and when it started."""

    attempt: int
    started_at: str = field(default_factory=now)
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def begin(self, ago_s: float) -> None:
        """The call started ``ago_s`` seconds ago (when the rate limiter gave it its slot)."""
        self.started = time.perf_counter() - ago_s
        self.started_at = stamp(datetime.now(UTC) - timedelta(seconds=ago_s))


def _outcome(error: Exception, policy: Policy) -> _Outcome:
    if isinstance(error, EngineError):
        code, message = error.code, str(error.args[0])
    else:
        code, message = "ENGINE_EXCEPTION", f"{type(error).__name__}: {error}"
    return _Outcome(code, message, policy.should_retry(error), getattr(error, "retry_after_s", None))


class _Lane:
    """One engine's queue of jobs and the threads that work through it.

    A local engine gets one thread (one accelerator, one job at a time); a remote one gets
    ``concurrency`` threads. Queues are per lane, so a slow engine never holds up a fast one.
    """

    def __init__(self, engine: Engine, policy: Policy, work: Callable[[_Lane, Any], None], stop: threading.Event):
        self.engine = engine
        self.policy = policy
        self.limiter = RateLimiter(policy.rate_limit)
        self.failures_in_a_row = 0
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stop = stop
        self.error: BaseException | None = None
        self.closed = False
        width = 1 if engine.local else max(1, engine.concurrency)
        self.threads = [
            threading.Thread(target=self._work, args=(work,), name=f"kiln-{engine.name}-{i}", daemon=True)
            for i in range(width)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self, work: Callable[[_Lane, Any], None]) -> None:
        while (item := self.queue.get()) is not None:
            if self.stop.is_set():
                continue  # not claimed yet: it simply stays queued in the store
            try:
                work(self, item)
            except BaseException as error:  # a bug, not a job failure: stop the run and say so
                self.error = self.error or error
                self.stop.set()

    def close(self) -> None:
        """Let the threads finish what they hold, then release the engine (once)."""
        if self.closed:
            return
        self.closed = True
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        self.engine.close()


class _Tracker:
    """Counts each plan's jobs in flight, to tell when a recipe is done and to top up targets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.given_up: set[str] = set()  # target recipes that reached max_failures
        self.all_done = threading.Condition(self.lock)

    def add(self, plan: RecipePlan, count: int) -> None:
        with self.lock:
            self.open[plan.recipe.name] = self.open.get(plan.recipe.name, 0) + count

    def settle(self, plan: RecipePlan) -> bool:
        """One job of ``plan`` is over; True if it was the plan's last."""
        with self.lock:
            self.open[plan.recipe.name] -= 1
            last = self.open[plan.recipe.name] == 0
            self.all_done.notify_all()
            return last

    def wait_all(self, stop: threading.Event) -> None:
        """Until every job is over, or the run is stopping (the lanes then finish what they hold)."""
        with self.lock:
            while any(self.open.values()) and not stop.is_set():
                self.all_done.wait(0.2)


class Runner:
    def __init__(
        self, project: Project, store: Store, observer: RunObserver | None = None, stop: threading.Event | None = None,
    ):
        self.project = project
        self.store = store
        self.observer = observer or SilentObserver()
        self.lanes: dict[str, _Lane] = {}
        # Engines set off on their start-up (see boot) that no lane has taken over yet, by name.
        self.booting: dict[str, Engine] = {}
        self.run_id = 0
        # Set by an auto-pause, or from outside (``kiln serve`` stopping) to end the run early.
        self.stop = stop or threading.Event()
        self.references = ReferencePreparer(project)
        self.tracker = _Tracker()
        self._report_lock = threading.Lock()
        self._finishing: list[Future[None]] = []
        self._finishers: ThreadPoolExecutor | None = None
        self._finish_slots: threading.BoundedSemaphore  # sized for the run's workers, in run()
        self._workers: ProcessPoolExecutor | None = None
        self._report = RunReport()
        self._error: BaseException | None = None  # what stopped the run, if not a lane's bug

    # the run ------------------------------------------------------------------------------

    def run(self, plans: list[RecipePlan], only: set[str] | None = None) -> RunReport:
        """Run the plans' jobs that have no image (of those, only the keys in ``only``, if given)."""
        started = time.perf_counter()
        sweep_temporaries(self.project.art_dir)
        self.store.release_stale_claims()
        report = self._report
        scheduled: set[str] = set()
        queued: list[tuple[RecipePlan, list[Job]]] = []
        for plan in plans:
            pending = [job for job in plan.todo if job.key not in scheduled]
            todo = pending if only is None else [job for job in pending if job.key in only]
            scheduled.update(job.key for job in todo)
            queued.append((plan, todo))
            deleted = sum(1 for job in plan.jobs if job.key in plan.deleted)
            report.planned += len(plan.jobs)
            report.skipped += len(plan.jobs) - len(pending) - deleted
            report.deleted += deleted
            report.per_recipe[plan.recipe.name] = {
                "planned": len(plan.jobs), "existing": len(plan.jobs) - len(pending) - deleted,
                "deleted": deleted, "generated": 0, "failed": 0,
            }
        # The engines with jobs boot while the run records the plans and starts its workers;
        # an engine with nothing to do is never started.
        for name in sorted({job.spec["engine"] for _, todo in queued for job in todo}):
            self.boot(name)
        try:
            for plan in plans:
                record_plan(plan, self.store)
            report.warnings.extend(self._lost_originals(plans))
            report.run_id = self.run_id = self.store.start_run([plan.recipe.name for plan in plans])
        except BaseException:
            self.close_booting()
            raise
        workers = self._workers_for(queued)
        # A thread per worker process hands it images and commits their rows; one more result
        # may wait, so the workers never idle and memory stays flat when the engine outpaces them.
        self._finish_slots = threading.BoundedSemaphore(workers + 1)

        # Renewing the lease on this run's claims, so no other runner takes them back.
        with Heartbeat(self.store.path, self.run_id):
            try:
                finishing = ThreadPoolExecutor(workers, thread_name_prefix="kiln-finish")
                # With nothing to do, no worker process either: each imports Pillow and more.
                pool_or_none = worker_pool(workers) if any(todo for _, todo in queued) else nullcontext(None)
                with pool_or_none as pool, finishing as finishers:
                    self._workers = pool
                    self._finishers = finishers
                    try:
                        for plan, todo in queued:
                            self.observer.recipe_started(plan)
                            self._dispatch(plan, todo)
                        self.tracker.wait_all(self.stop)
                        if self.stop.is_set() and not report.paused:
                            report.interrupted = True
                    except KeyboardInterrupt:
                        report.interrupted = True
                        self.stop.set()
                    # Waiting here, not in the pools' exits, so a second Ctrl-C during the wait is
                    # caught below instead of abandoning half-finished rows.
                    self._close_lanes()
                    self._drain_finishing()
            except KeyboardInterrupt:
                report.interrupted = True
                self.stop.set()
            except BaseException:
                report.crashed = True  # recorded as failed; the claimed jobs go back at the next start
                self.stop.set()
                raise
            finally:
                self._close_lanes()
                self.close_booting()
                if any(lane.error is not None for lane in self.lanes.values()):
                    report.crashed = True
                for plan in plans:
                    if plan.target is not None:
                        record_plan(plan, self.store)  # it may hold replacements for failed jobs
                report.seconds = time.perf_counter() - started
                report.warnings.extend(self.references.warnings)
                if self._error is not None:
                    report.crashed = True
                self._close_run(report)
        errors = [error for error in (self._error, *(lane.error for lane in self.lanes.values())) if error is not None]
        if errors:
            raise errors[0]
        return report

    def _workers_for(self, queued: list[tuple[RecipePlan, list[Job]]]) -> int:
        """Finishing workers for the jobs queued: the cores their engines leave free."""
        names = {job.spec["engine"] for _, todo in queued for job in todo}
        taken = []
        for name in names:
            config = self.project.engine(name)
            taken.append(engine_class(config).cores_taken(config.options))
        # A target recipe may add jobs as others fail: it counts as many as it may make.
        jobs = sum(len(todo) if plan.target is None else max(len(todo), plan.remaining) for plan, todo in queued)
        return finishing_workers(taken, jobs)

    def _stop_for(self, error: BaseException) -> None:
        """End the run because of ``error``, which ``run`` raises once the lanes have stopped."""
        with self._report_lock:
            self._error = self._error or error
        self.stop.set()

    def _close_run(self, report: RunReport) -> None:
        """Hand back the jobs the run still holds and record how it ended."""
        counts = {"planned": report.planned, "generated": report.generated,
                  "skipped": report.skipped + report.deleted, "failed": report.failed}
        try:
            self.store.release_run(report.run_id)
            self.store.finish_run(report.run_id, report.status, counts, stop_reason=report.paused)
        except sqlite3.Error:
            if not report.crashed:
                raise
            # The store already failed the run (read-only, full); the error that did is the one
            # to report, and the next run's start releases the jobs left behind.

    def _lost_originals(self, plans: list[RecipePlan]) -> list[str]:
        """A warning if images the run skips as made have lost their original: one stat each."""
        skipped = [job.key for plan in plans for job in plan.jobs if job.key in plan.done]
        art = self.project.art_dir
        lost = sorted({path for path in self.store.image_paths(skipped).values() if not (art / path).exists()})
        if not lost:
            return []
        shown = ", ".join(self.project.relative(art / path) for path in lost[:3]) + (", …" if len(lost) > 3 else "")
        many = len(lost) != 1
        return [
            f"{len(lost)} image{'s' if many else ''} skipped as already made {'have' if many else 'has'} no original"
            f" file ({shown}); 'kiln doctor --fix' queues {'them' if many else 'it'} to be made again"
        ]

    def _dispatch(self, plan: RecipePlan, jobs: list[Job]) -> None:
        if not jobs:
            self.tracker.add(plan, 1)
            self._settle(plan)
            return
        self.tracker.add(plan, len(jobs))
        for job in jobs:
            self._lane(job.spec["engine"]).queue.put((plan, job))

    def _settle(self, plan: RecipePlan) -> None:
        if self.tracker.settle(plan):
            self.observer.recipe_finished(plan)

    def _lane(self, name: str) -> _Lane:
        if name not in self.lanes:
            config = self.project.engine(name)
            log_name = f"run-{self.run_id}-{name}"
            engine = self.booting.pop(name, None)
            if engine is None:
                engine = open_engine(self.project, name, log_name=log_name)
            else:
                name_log(engine, self.project, log_name)
            self.lanes[name] = _Lane(engine, config.policy, self._work, self.stop)
        return self.lanes[name]

    def boot(self, name: str) -> None:
        """Set engine ``name`` off on its start-up (:meth:`Engine.start`), unless it has been:
        called once a plan is found to have a job for it, so its process boots while the run
        gets ready, and only then. Its lane takes it over; :meth:`close_booting` closes it if
        none does."""
        if name in self.lanes or name in self.booting:
            return
        self.booting[name] = engine = open_engine(self.project, name, log_name=None)
        engine.start()

    def close_booting(self) -> None:
        """Close the engines set off by :meth:`boot` that no lane took over (the run stopped
        first, or planning failed)."""
        while self.booting:
            _, engine = self.booting.popitem()
            engine.close()

    def _close_lanes(self) -> None:
        for lane in self.lanes.values():
            lane.close()

    def _drain_finishing(self) -> None:
        futures, self._finishing = self._finishing, []
        for future in futures:
            future.result()

    def _work(self, lane: _Lane, item: tuple[RecipePlan, Job]) -> None:
        plan, job = item
        handed_on = False
        try:
            if plan.recipe.name not in self.tracker.given_up:
                handed_on = self._run_job(plan, job, lane)
        finally:
            # A job handed to the finishers settles there, once its image is recorded.
            if not handed_on:
                self._settle(plan)

    def _top_up(self, plan: RecipePlan) -> None:
        """Target mode: replace a failed job with the next one, while failures allow."""
        target = plan.target
        if target is None or self.stop.is_set():
            return
        with self.tracker.lock:
            name = plan.recipe.name
            self.tracker.failures[name] = failures = self.tracker.failures.get(name, 0) + 1
            if failures >= target.max_failures:
                self.tracker.given_up.add(name)  # its queued jobs are passed over
                return
            in_flight = self.tracker.open[name] - 1  # the failed job has not settled yet
            if plan.remaining - in_flight <= 0:
                return
            position = len(plan.jobs)
            jobs = plan.more(1)
            self.tracker.open[name] += len(jobs)
        # more() may also pass over jobs an earlier run made; only the new ones are stored here.
        self.store.add_jobs(name, [(job.key, job.spec, job.axes) for job in jobs], position)
        for job in jobs:
            self._lane(job.spec["engine"]).queue.put((plan, job))

    # one job ------------------------------------------------------------------------------

    def _run_job(self, plan: RecipePlan, job: Job, lane: _Lane) -> bool:
        """Claim and generate ``job``; True if its result went on to the finishers."""
        report = self._report
        if not self.store.claim(job.key, report.run_id):
            with self._report_lock:
                report.skipped += 1
            return False
        try:
            result, timings = self._generate_with_retries(plan, job, lane)
        except BaseException:
            self.store.release([job.key])
            raise
        if result is None:
            return False
        assert self._finishers is not None
        self._finish_slots.acquire()
        future = self._finishers.submit(self._finish, plan, job, result, timings)
        with self._report_lock:
            self._finishing.append(future)
        return True

    def _generate_with_retries(
        self, plan: RecipePlan, job: Job, lane: _Lane
    ) -> tuple[GenerateResult | None, dict[str, float]]:
        """Call the engine until it succeeds, fails for good, or the run stops.

        Returns ``(None, {})`` when the job failed (recorded) or was put back (stopping).
        """
        report = self._report
        policy = lane.policy
        attempt = 0
        while True:
            call = _Call(attempt + 1)
            try:
                result, timings = self._generate(plan, job, lane, call)
            except _Stopping:
                self.store.release([job.key])
                return None, {}
            except Exception as error:
                attempt = call.attempt
                outcome = _outcome(error, policy)
                elapsed = call.elapsed_ms()
                if outcome.retry_after_s:
                    lane.limiter.pause(outcome.retry_after_s)  # the server speaks of the lane, not the job
                retry = outcome.retry and attempt <= policy.retry.max_retries and not self.stop.is_set()
                self.store.record_attempt(
                    job.key, report.run_id, lane.engine.name, attempt, call.started_at, elapsed,
                    "retried" if retry else "failed", outcome.code, outcome.message,
                )
                if retry:
                    with self._report_lock:
                        report.retries += 1
                    if self.stop.wait(policy.retry.delay_s(attempt, outcome.retry_after_s)):
                        self.store.release([job.key])
                        return None, {}
                    continue
                self._fail(plan, job, outcome.code, outcome.message, elapsed)
                self._count_failure(lane, outcome)
                return None, {}
            self.store.record_attempt(
                job.key, report.run_id, lane.engine.name, call.attempt, call.started_at,
                timings["generate_ms"], "succeeded", None, None, result.response_id,
            )
            with lane.lock:
                lane.failures_in_a_row = 0
            return result, timings

    def _restarted(self, job: Job, lane: _Lane, call: _Call, restart: Restarted) -> None:
        """The engine restarted itself to try the call again: the failed try is an attempt."""
        self.store.record_attempt(
            job.key, self._report.run_id, lane.engine.name, call.attempt, call.started_at, call.elapsed_ms(),
            "retried", restart.code, restart.message,
        )
        with self._report_lock:
            self._report.retries += 1
        call.attempt += 1
        call.started_at, call.started = now(), time.perf_counter()

    def _fail(self, plan: RecipePlan, job: Job, code: str, message: str, elapsed: float) -> None:
        """Record a job's failure, report it, and replace it if its recipe has a target."""
        report = self._report
        self.store.fail(job.key, code, message, elapsed)
        with self._report_lock:
            report.failed += 1
            report.error_counts[code] += 1
            report.first_errors.setdefault(code, message)
            report.per_recipe[plan.recipe.name]["failed"] += 1
        self.observer.job_finished(plan, job, message)
        self._top_up(plan)

    def _count_failure(self, lane: _Lane, outcome: _Outcome) -> None:
        """Pause the run when an engine has failed too many jobs in a row."""
        threshold = lane.policy.auto_pause_after
        with lane.lock:
            lane.failures_in_a_row += 1
            count = lane.failures_in_a_row
        if threshold and count >= threshold and not self.stop.is_set():
            with self._report_lock:
                self._report.paused = (
                    f"engine {lane.engine.name!r} failed {count} jobs in a row"
                    f" (last: {outcome.code}: {outcome.message})"
                )
            self.stop.set()

    def _generate(
        self, plan: RecipePlan, job: Job, lane: _Lane, call: _Call
    ) -> tuple[GenerateResult, dict[str, float]]:
        spec, engine = job.spec, lane.engine

        def report_progress(progress: Progress) -> None:
            if isinstance(progress, Restarted):
                self._restarted(job, lane, call, progress)
            self.observer.job_progress(plan, job, progress)

        load_ms = engine.load(spec["model"], report_progress)
        references = self.references.for_engine(spec["references"], engine, lane.policy)
        request = GenerateRequest.from_spec(spec, tuple(str(path) for path in references))
        # The slot is taken right before the request leaves, so the server sees the limit held;
        # the call is recorded as starting at its slot, as the limit counts it.
        slot = lane.limiter.acquire(self.stop)
        if slot is None:
            raise _Stopping
        call.begin(time.monotonic() - slot)
        started = time.perf_counter()
        result = engine.generate(request, report_progress)
        if result.image.size != (spec["width"], spec["height"]):
            raise EngineError(
                f"engine returned {result.image.width}x{result.image.height}, asked for {spec['width']}x{spec['height']}",
                code="WRONG_SIZE",
            )
        timings = {"load_ms": round(load_ms, 1), "generate_ms": round((time.perf_counter() - started) * 1000, 1)}
        return result, timings

    # finishing ----------------------------------------------------------------------------

    def _finish(self, plan: RecipePlan, job: Job, result: GenerateResult, timings: dict[str, float]) -> None:
        report = self._report
        try:
            started = time.perf_counter()
            row, derivatives, references = self._save(plan, job, result)
            timings["stages_ms"] = round((time.perf_counter() - started) * 1000, 1)
            row["timings"] = json.dumps({**result.timings_ms, **timings}, sort_keys=True)
            replaced = self.store.record_image(job.key, row, derivatives, timings["generate_ms"], references)
        except Exception as error:
            if write_failure(error):
                # art/ or the store cannot be written (read-only, full): every job would fail alike.
                self._stop_for(error)
            else:  # an encoder failure, a vanished folder: this job fails, not the run
                self._fail(plan, job, "STAGE_FAILED", f"{type(error).__name__}: {error}", timings["generate_ms"])
        else:
            if replaced is not None:
                self._replaced(plan, job, row["id"], replaced)
            with self.tracker.lock:
                plan.done.add(job.key)
            with self._report_lock:
                report.generated += 1
                report.per_recipe[plan.recipe.name]["generated"] += 1
            self.observer.job_finished(plan, job, None)
        finally:
            self._finish_slots.release()
            self._settle(plan)

    def _replaced(self, plan: RecipePlan, job: Job, image_id: str, replaced: Replaced) -> None:
        """A job queued to remake a lost original made different bytes: the old image's files go,
        and the run says so (its curation moved over with the rows)."""
        for path in replaced.paths:
            (self.project.art_dir / path).unlink(missing_ok=True)
        with self._report_lock:
            self._report.warnings.append(
                f"job {job.key} ({plan.recipe.name}) made image {image_id}, not {replaced.image_id} as before:"
                " the engine did not give the same bytes; the rating, status, tags and notes of"
                f" {replaced.image_id} moved to {image_id}"
            )

    def _save(
        self, plan: RecipePlan, job: Job, result: GenerateResult
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """Write the original and its derivatives (in a worker process); return the rows to commit."""
        spec = job.spec
        provenance = {
            "engine_type": spec["engine_type"],
            # The placeholder may also answer through a protocol engine (kiln engine serve).
            "procedural": spec["engine_type"] == "placeholder" or result.info.get("procedural") is True,
            "template": job.template,
            "axes": job.axes,
            "engine_info": result.info,
        }
        created = now()
        assert self._workers is not None
        files, derivatives = self._workers.submit(
            # The engine's own file when it made one: smaller to send, and kept as it is.
            write_image_files, result.encoded or result.image, self.project.art_dir, created, job.key, plan.recipe.name, spec,
            job.template, provenance,
        ).result()
        references = [
            {"image_id": files["id"], "position": i, "source_path": ref["path"], "sha256": ref["sha256"],
             "thumb_path": self.references.thumbnail(ref)}
            for i, ref in enumerate(spec["references"])
        ]
        row = image_row(
            files, job.key, plan.recipe.name, spec, provenance,
            seed=result.seed, response_id=result.response_id, created_at=created,
        )
        return row, derivatives, references


def run_recipes(
    project: Project,
    names: list[str] | None = None,
    observer: RunObserver | None = None,
    redo: list[str] | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """Load, plan and run the named recipes (default: every enabled one) of ``project``.

    ``redo`` names jobs (by key or by the id of the image they made) to make again on purpose,
    and only those: their recipes are planned as usual, the jobs put back in the queue. Setting
    ``stop`` ends the run after the images in hand, as Ctrl-C does.
    """
    from kiln.plan import plan_each
    from kiln.recipe import load_all
    from kiln.store import open_store

    # Recipes and engine settings are read before the store is opened, so a bad recipe or
    # option leaves no art/ behind and is reported with its line.
    try:
        recipes = [] if redo else load_all(project, names or None)
    except InputError:
        from kiln.importing.records import refuse_imported

        refuse_imported(project, names or [])
        raise
    problems = check_engines(project, {recipe.engine for recipe in recipes})
    if problems:
        raise InputError(problems)
    try:
        store = open_store(project.db_path)
    except (sqlite3.Error, OSError) as error:
        raise _write_error(project, error) from None
    runner = Runner(project, store, observer, stop)
    try:
        if redo:
            from kiln.library.requeue import plan_redo

            plans, keys = plan_redo(project, store, redo)
            return runner.run(plans, only=keys)
        plans = []
        for plan in plan_each(recipes, project, store):
            # An engine boots as soon as a recipe has work for it, while the rest is planned.
            if plan.todo:
                runner.boot(plan.recipe.engine)
            plans.append(plan)
        return runner.run(plans)
    except (sqlite3.Error, OSError) as error:
        raise _write_error(project, error) from None
    finally:
        runner.close_booting()  # planning found bad input after an engine had been set off
        store.close()


def _write_error(project: Project, error: sqlite3.Error | OSError) -> BaseException:
    """A store or art/ that cannot be written, as one line; any other error as it is."""
    meaning = write_failure(error)
    if meaning is None:
        return error
    filename = getattr(error, "filename", None)
    subject = project.relative(Path(filename)) if filename else project.relative(project.db_path)
    return KilnError(
        f"cannot write {subject}: it {meaning}. Images finished before are kept, and unfinished"
        " jobs stay queued for the next 'kiln run'."
    )
