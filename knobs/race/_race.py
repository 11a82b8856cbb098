"""Creating and running a race: several studies on one split, scheduled fairly on the workers.

A race is a small JSON file under ``$KNOBS_HOME/races/`` plus ordinary studies. The file holds the
spec and, per run, its study name and state; the trials live in the studies' storage. Only the
race's own orchestrating process (``python -m knobs.race --race ID``, or the CLI in the
foreground) writes the file after creation, atomically, so a page can read it at any moment.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from knobs import study as results
from knobs.config import SearchConfig, default_workers
from knobs.data import Dataset
from knobs.errors import ConfigError, StudyError
from knobs.pruners import PRUNERS
from knobs.strategies import ALIASES, STRATEGIES
from knobs.study import Search, knobs_home, load_study, process_alive, spawn, storage_url

log = logging.getLogger("knobs.race")

#: Contestants are strategies by their registry name (``knobs.strategies.STRATEGIES``), alone
#: (every trial runs all its folds) or with a pruner: ``tpe+median``, ``random+hyperband``.
CONTESTANTS: tuple[str, ...] = tuple(STRATEGIES)
RACE_STATES = ("created", "running", "refitting", "finished", "stopped", "failed")


#: The contestant modifier that starts a run from the race's earlier studies (``--warm-start``):
#: ``tpe,tpe+warm`` races the same strategy cold against warm.
WARM = "warm"


def split_contestant(name: str) -> tuple[str, str]:
    """``"tpe+sh"`` -> ``("tpe", "sh")``; ``"tpe"`` -> ``("tpe", "none")`` (``+warm`` aside)."""
    strategy, *rest = name.split("+")
    rest = [p for p in rest if p != WARM]
    return strategy, rest[0] if rest else "none"


def is_warm(name: str) -> bool:
    """Whether a contestant starts warm (``tpe+warm``, ``tpe+median+warm``)."""
    return WARM in name.split("+")[1:]


def contestant_label(name: str) -> str:
    """``TPE``, ``TPE + Hyperband``, ``TPE (warm)``: how a contestant reads on charts and tables."""
    strategy, pruner = split_contestant(name)
    short = STRATEGIES[strategy].short if strategy in STRATEGIES else strategy
    label = short if pruner == "none" else f"{short} + {PRUNERS[pruner].label}"
    return f"{label} (warm)" if is_warm(name) else label


def parse_contestants(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"grid,random,bayes+sh"`` -> ``("grid", "random", "tpe+sh")``; unknown names fail clearly."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for raw in items:
        text = raw.strip().lower()
        if not text:
            continue
        strategy, pruner = split_contestant(text)
        if len([p for p in text.split("+")[1:] if p != WARM]) > 1:
            raise ConfigError(
                f"Contestant `{raw.strip()}` names more than one pruner; give one, like "
                "`tpe+median` or `tpe+median+warm`."
            )
        strategy = ALIASES.get(strategy, strategy)
        if strategy not in CONTESTANTS:
            raise ConfigError(
                f"Unknown contestant `{raw.strip()}`: pick from {', '.join(CONTESTANTS)} "
                f"(`bayes` means tpe), optionally with a pruner: `tpe+median` "
                f"({', '.join(p for p in PRUNERS if p != 'none')})."
            )
        if pruner not in PRUNERS:
            raise ConfigError(
                f"Unknown pruner `{pruner}` in contestant `{raw.strip()}`: pick from "
                f"{', '.join(PRUNERS)}."
            )
        name = strategy if pruner == "none" else f"{strategy}+{pruner}"
        if is_warm(text):
            name += f"+{WARM}"
        if name not in out:
            out.append(name)
    if len(out) < 2:
        raise ConfigError(f"A race needs at least two contestants, but got {out or 'none'}.")
    return tuple(out)


@dataclass(frozen=True)
class RaceSpec:
    """What to race: one search config shared by every run, the contestants and the seeds."""

    config: SearchConfig  # strategy/sampler/sampler_seed are set per run
    contestants: tuple[str, ...]
    seeds: int = 3
    workers: int | None = None  # runs at once, one worker process each (default: cores)
    threads: int | None = None  # threads per worker, the same for every run
    source: str = "data.csv"

    def __post_init__(self) -> None:
        object.__setattr__(self, "contestants", parse_contestants(self.contestants))
        if not 1 <= self.seeds <= 50:
            raise ConfigError(f"`seeds` must be between 1 and 50, but got {self.seeds}.")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"`workers` must be >= 1, but got {self.workers}.")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"`threads` must be >= 1, but got {self.threads}.")
        if any(map(is_warm, self.contestants)) and not self.config.warm_start:
            raise ConfigError(
                "A `+warm` contestant starts from earlier studies: name them with "
                "`--warm-start STUDY[,STUDY...]`."
            )

    @property
    def slots(self) -> int:
        return self.workers or default_workers()

    @property
    def n_threads(self) -> int:
        return self.threads or max(1, default_workers() // min(self.slots, self.n_runs))

    @property
    def n_runs(self) -> int:
        return len(self.contestants) * self.seeds

    def sampler_seed(self, index: int) -> int:
        return 1000 * self.config.seed + index + 1

    def run_config(self, contestant: str, index: int) -> SearchConfig:
        strategy, pruner = split_contestant(contestant)
        row = STRATEGIES[strategy]
        # With `+warm` contestants, only they start warm (cold against warm); without any,
        # `--warm-start` warms every run.
        warm = is_warm(contestant) or not any(map(is_warm, self.contestants))
        return self.config.with_updates(
            strategy=row.strategy,
            sampler=row.sampler,
            pruner=pruner,
            warm_start=self.config.warm_start if warm else (),
            sampler_seed=self.sampler_seed(index),
            workers=1,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "contestants": list(self.contestants),
            "seeds": self.seeds,
            "workers": self.workers,
            "threads": self.threads,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RaceSpec:
        return cls(
            config=SearchConfig.from_dict(data["config"]),
            contestants=tuple(data["contestants"]),
            seeds=int(data["seeds"]),
            workers=data.get("workers"),
            threads=data.get("threads"),
            source=data.get("source", "data.csv"),
        )


def schedule(contestants: Sequence[str], seeds: int) -> list[tuple[str, int]]:
    """The order runs start in: round by seed, the contestants rotated each round.

    So no contestant always starts first (or alone at the end), and with W slots the runs that
    share the machine at any moment mix contestants.
    """
    order: list[tuple[str, int]] = []
    n = len(contestants)
    for i in range(seeds):
        shift = i % n
        for c in list(contestants[shift:]) + list(contestants[:shift]):
            order.append((c, i))
    return order


@dataclass
class RunInfo:
    contestant: str
    seed_index: int
    sampler_seed: int
    study: str
    state: str = "queued"  # queued | running | done | stopped
    started: float | None = None
    finished: float | None = None
    test_score: float | None = None
    test_trial: int | None = None


@dataclass
class Race:
    """The race file's content."""

    id: str
    spec: RaceSpec
    runs: list[RunInfo]
    storage: str
    fingerprint: str
    metric: str
    direction: str
    task: str
    created: str
    state: str = "created"
    pid: int | None = None
    error: str | None = None
    updated: float = field(default_factory=time.time)

    # --- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Race:
        data = dict(data)
        spec = RaceSpec.from_dict(data.pop("spec"))
        runs = [RunInfo(**r) for r in data.pop("runs")]
        return cls(spec=spec, runs=runs, **data)

    def save(self) -> None:
        self.updated = time.time()
        path = race_path(self.id)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)

    # --- reading ---------------------------------------------------------------------------
    def runs_of(self, contestant: str) -> list[RunInfo]:
        return sorted(
            (r for r in self.runs if r.contestant == contestant), key=lambda r: r.seed_index
        )

    @property
    def done(self) -> int:
        return sum(r.state in ("done", "stopped") for r in self.runs)

    @property
    def active(self) -> bool:
        return self.state in ("created", "running", "refitting") and _alive(self.pid)


def races_dir() -> Path:
    path = knobs_home() / "races"
    path.mkdir(parents=True, exist_ok=True)
    return path


def race_path(race_id: str) -> Path:
    if not race_id or not all(c.isalnum() or c in "-_" for c in race_id):
        raise StudyError(f"`{race_id}` is not a race id (letters, digits, - and _ only).")
    return races_dir() / f"{race_id}.json"


def load_race(race_id: str) -> Race:
    path = race_path(race_id)
    if not path.exists():
        raise StudyError(f"No race `{race_id}` under {races_dir()}; start one first.")
    race = Race.from_dict(json.loads(path.read_text(encoding="utf-8")))
    if race.pid is None and pid_path(race_id).exists():
        race.pid = int(pid_path(race_id).read_text(encoding="ascii").strip() or 0) or None
    return race


def list_races() -> list[Race]:
    out = []
    for path in sorted(races_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            out.append(load_race(path.stem))
        except (ValueError, KeyError, TypeError, StudyError):  # a foreign or damaged file: skip it
            log.warning("skipping unreadable race file %s", path)
    return out


def _alive(pid: int | None) -> bool:
    """A race without a pid runs in the foreground, in whoever reads it."""
    return pid is None or process_alive(pid)


def create_race(
    dataset: Dataset, spec: RaceSpec, *, storage: str | None = None, race_id: str | None = None
) -> Race:
    """Create every run's study from the same prepared dataset, and the race file.

    All runs share ``config.seed``, hence the same test split and folds; this is checked (the
    plans' fingerprints and folds must agree) so a race never compares different problems.
    """
    race_id = race_id or secrets.token_urlsafe(9).replace("_", "x").replace("-", "y")
    url = storage_url(storage)
    stem = "".join(c if c.isalnum() else "-" for c in Path(spec.source).stem.lower())[:30] or "data"
    runs: list[RunInfo] = []
    plans = []
    for contestant, index in schedule(spec.contestants, spec.seeds):
        name = f"race-{race_id}-{stem}-{contestant}-s{index + 1}"
        config = spec.run_config(contestant, index)
        if plans and config.search_rows is None:
            # Every run searches the rows the first chose (its ``sample``, 0 for every row): the
            # quick timing that sizes a sample to the time budget could differ run to run.
            config = config.with_updates(search_rows=plans[0].sample)
        search = Search.create(dataset, config, name=name, storage=url, source=spec.source)
        plans.append(search.plan)
        runs.append(RunInfo(contestant, index, spec.sampler_seed(index), name))
    first = plans[0]
    for plan in plans[1:]:
        same = (plan.fingerprint, plan.folds, plan.n_train, plan.n_test, plan.config.seed) == (
            first.fingerprint,
            first.folds,
            first.n_train,
            first.n_test,
            first.config.seed,
        )
        if not same:  # pragma: no cover - guards the invariant the whole race rests on
            raise StudyError("The race's studies do not share one split and folds; start again.")
    race = Race(
        id=race_id,
        spec=spec,
        runs=runs,
        storage=url,
        fingerprint=first.fingerprint,
        metric=first.metric,
        direction=first.direction,
        task=first.task,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )
    race.save()
    return race


def stop_path(race_id: str) -> Path:
    return races_dir() / f"{race_id}.stop"


def request_stop(race_id: str) -> None:
    """Ask the race to stop: no new run starts, the running ones are stopped, results stand."""
    stop_path(race_id).write_text(str(time.time()), encoding="ascii")


def launch_race(race_id: str) -> subprocess.Popen:
    """Run the race in its own detached process (the dashboard never runs it in its thread)."""
    load_race(race_id)  # it must exist
    proc = spawn("knobs.race", ["--race", race_id], races_dir() / f"{race_id}.log")
    # A side file, not the race file: the child may already be writing that one.
    pid_path(race_id).write_text(str(proc.pid), encoding="ascii")
    return proc


def pid_path(race_id: str) -> Path:
    return races_dir() / f"{race_id}.pid"


def run_race(
    race_id: str,
    *,
    progress: Callable[[Race], None] | None = None,
    poll_s: float = 0.5,
    refit: bool = True,
) -> Race:
    """Run every queued run, at most ``spec.slots`` at once, then score each best on the test split.

    Each run gets one worker process with the same threads, and its own trial budget and
    timeout (the timeout counts from the run's own start). The test split is scored only after
    all runs have ended, so refits never steal a core from a run still being timed.
    """
    race = load_race(race_id)
    spec = race.spec
    race.pid = os.getpid()
    race.state = "running"
    race.save()
    handles: dict[str, Search] = {}
    stopped = False
    try:
        while True:
            if stop_path(race_id).exists() and not stopped:
                stopped = True
                for run in race.runs:
                    if run.state == "running":
                        handles[run.study].stop()
                    if run.state in ("queued", "running"):
                        run.state = "stopped"
                        run.finished = time.time()
                race.save()
            for run in race.runs:
                if run.state == "running" and not handles[run.study].is_running():
                    handles[run.study].wait(poll_s=0.05)
                    run.state = "done"
                    run.finished = time.time()
                    race.save()
            running = sum(r.state == "running" for r in race.runs)
            for run in race.runs:
                if stopped or running >= spec.slots:
                    break
                if run.state == "queued":
                    handle = Search.open(run.study, race.storage)
                    handle.start(workers=1, threads=spec.n_threads, timeout=spec.config.timeout)
                    handles[run.study] = handle
                    run.state = "running"
                    run.started = time.time()
                    running += 1
                    race.save()
            if progress is not None:
                progress(race)
            if not any(r.state in ("queued", "running") for r in race.runs):
                break
            time.sleep(poll_s)
        if refit:
            race.state = "refitting"
            race.save()
            score_tests(race)
        race.state = "stopped" if stopped else "finished"
    except BaseException as exc:
        race.state = "failed"
        race.error = f"{type(exc).__name__}: {exc}"[:500]
        for run in race.runs:
            if run.state == "running" and run.study in handles:
                handles[run.study].stop()
        race.save()
        raise
    race.save()
    if progress is not None:
        progress(race)
    return race


def score_tests(race: Race) -> None:
    """Refit each run's best trial on the training split and score it on the test split."""
    for run in race.runs:
        study = load_study(run.study, race.storage)
        search = Search(run.study, race.storage)
        best = results.best_trial(study.get_trials(deepcopy=False), search.plan.direction)
        if best is None:
            continue
        pipeline = results.refit(search.plan, best, n_jobs=race.spec.n_threads)
        run.test_score = float(results.test_score(search.plan, pipeline))
        run.test_trial = best.number
        race.save()


def spec_with(spec: RaceSpec, **changes: Any) -> RaceSpec:
    return replace(spec, **changes)
