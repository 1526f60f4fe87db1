"""Worked example: join the video features with electrophysiology, by session and by time.

An analyst keeps spike-sorted units in a schema of their own, keyed by the pipeline's
``Session``, with spike times on the FPGA clock (the clock of a Neuropixels recording, and of
the video frame times on recording rigs). This example

1. declares that schema: ``Unit`` (one row per unit, spike times as an object-store array
   ``<npy@ibl_video>``) in ``<prefix>_ephys_example``, next to the pipeline's schemas;
2. simulates units from the simulator's ground truth (:func:`simulate_spikes`): "lick" units
   fire ``lick_gain`` times faster during the ``lick_window_s`` after each true lick onset,
   "pupil" units have a rate that follows the true pupil diameter
   (``base * (1 + pupil_gain * z(pupil))``);
3. joins ``Unit`` with ``PupilDiameter`` by session (``Unit * PupilDiameter.proj(...)``), gets
   the lick onsets of both side cameras merged (:func:`schemas.analysis.lick_times`), and
   computes per unit the lick-triggered rate (:func:`lick_triggered`, :func:`lick_modulation`)
   and the correlation of its rate with the pupil (:func:`pupil_rate_correlation`).

What the pipeline measured (pose -> licks, pupil) recovers what the simulation put in: the
lick units' rate after a lick onset is ``lick_gain`` times their rate away from licks, the
pupil units' rate correlates with the pupil diameter with the sign of ``pupil_gain``
(``tests/schemas/test_analysis.py`` checks both).

Run it on a fresh data root (it records a simulated session first, with the simulator's
true pose in place of DeepLabCut, see ``examples/simulated_session.py``)::

    python examples/ephys_join.py --data-root /tmp/ephys_example

The files in ``examples/`` are not part of the installed package; they import it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import datajoint as dj
import numpy as np

from schemas import analysis
from schemas.features import PupilDiameter
from schemas.session import Session, session_name  # noqa: F401  (Session: in the definition of Unit)

schema = dj.Schema()
SCHEMA_SUFFIX = "ephys_example"


@schema
class Unit(dj.Manual):
    """A sorted unit of the analyst's recording of a session.

    Attributes:
        unit_id (int): Unit number within the session.
        spike_times (array): ``(n_spikes,)`` seconds on the FPGA clock, sorted.
        drive (str): What drives the simulated unit (``lick``, ``pupil+``, ``pupil-``).
    """

    definition = """
    -> Session
    unit_id: int16
    ---
    spike_times: <npy@ibl_video>     # (n_spikes,) s, FPGA clock
    drive: varchar(16)               # simulated drive: lick, pupil+, pupil-
    """


def activate(prefix: str | None = None, connection=None) -> str:
    """Bind the example schema to ``<prefix>_ephys_example`` (the pipeline's must be active).

    Returns the schema name.
    """
    from schemas import config
    from schemas.session import schema as session_schema

    prefix = prefix or config.current().schema_prefix
    connection = connection or session_schema.connection
    name = f"{prefix}_{SCHEMA_SUFFIX}"
    if schema.database is not None and (
        schema.database != name or schema.connection is not connection
    ):
        schema.database = None
        schema.connection = None
    schema.activate(name, connection=connection)
    return name


def drop() -> None:
    """Drop the example schema (before the pipeline's: ``Unit`` refers to ``Session``)."""
    if schema.database is not None and schema.exists:
        schema.drop(prompt=False)
    schema.database = None
    schema.connection = None


# --------------------------------------------------------------------------------------------
# Simulated units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitDrive:
    """How a simulated unit's rate depends on the mouse.

    Attributes
    ----------
    drive : str
        Name (``lick``, ``pupil+``, ``pupil-``).
    base_hz : float
        Rate away from licks at the mean pupil diameter, Hz.
    lick_gain : float
        Rate factor during ``lick_window_s`` after each true lick onset.
    lick_window_s : float
        Duration of the lick response, s (shorter than the inter-lick interval, ~135 ms).
    pupil_gain : float
        Rate factor ``1 + pupil_gain * z`` with ``z`` the true pupil diameter z-scored over
        the session (clipped at 0).
    """

    drive: str
    base_hz: float
    lick_gain: float = 1.0
    lick_window_s: float = 0.1
    pupil_gain: float = 0.0


DEFAULT_DRIVES: tuple[UnitDrive, ...] = (
    UnitDrive("lick", 60.0, lick_gain=3.0),
    UnitDrive("lick", 40.0, lick_gain=3.0),
    UnitDrive("pupil+", 30.0, pupil_gain=0.5),
    UnitDrive("pupil-", 30.0, pupil_gain=-0.5),
)


def simulate_spikes(
    session_folder: Path | str,
    drives: tuple[UnitDrive, ...] = DEFAULT_DRIVES,
    *,
    seed: int = 0,
    dt_s: float = 1e-3,
) -> list[np.ndarray]:
    """Spike trains driven by the simulator's true licks and pupil (inhomogeneous Poisson).

    Parameters
    ----------
    session_folder : path
        A simulated session folder (its ``simulation_truth/``).
    drives : tuple of UnitDrive
        One unit per entry.
    seed : int
        Random seed.
    dt_s : float
        Time step of the rate, s.

    Returns
    -------
    list of (n_spikes,) float64
        Sorted spike times, seconds on the FPGA clock (the simulator's session clock).

    Raises
    ------
    ValueError
        If the folder's truth has no behaviour (licks, pupil).
    """
    from acquisition.daq import load_truth
    from acquisition.simulator import Behaviour

    truth = load_truth(session_folder)
    info = truth.session
    if "behaviour_seed" not in info:
        raise ValueError(f"{session_folder}: the simulation truth has no behaviour (licks, pupil)")
    behaviour = Behaviour(info["duration_s"], seed=info["behaviour_seed"])
    if not np.allclose(behaviour.lick_intervals_s, truth.lick_intervals_s):
        raise ValueError(
            f"{session_folder}: the behaviour rebuilt from its seed does not match the saved licks"
        )
    t = np.arange(0.0, info["duration_s"], dt_s)
    onsets = truth.lick_intervals_s[:, 0]
    since = np.full(t.shape, np.inf)  # time since the last true lick onset, s
    if len(onsets):
        last = np.searchsorted(onsets, t, side="right") - 1
        since = np.where(last >= 0, t - onsets[np.clip(last, 0, None)], np.inf)
    pupil = behaviour.pupil_diameter_mm(t)
    z = (pupil - pupil.mean()) / pupil.std()
    rng = np.random.default_rng(seed)
    trains = []
    for d in drives:
        rate = (
            d.base_hz
            * np.where(since < d.lick_window_s, d.lick_gain, 1.0)
            * np.clip(1.0 + d.pupil_gain * z, 0.0, None)
        )
        counts = rng.poisson(rate * dt_s)
        spikes = np.repeat(t, counts) + rng.uniform(0.0, dt_s, int(counts.sum()))
        trains.append(np.sort(spikes))
    return trains


def insert_units(
    session_key: dict,
    session_folder: Path | str,
    drives: tuple[UnitDrive, ...] = DEFAULT_DRIVES,
    *,
    seed: int = 0,
) -> list[dict]:
    """Simulate units for a session and insert them into ``Unit``; returns their keys."""
    trains = simulate_spikes(session_folder, drives, seed=seed)
    skey = {k: session_key[k] for k in ("subject", "session_date", "session_number")}
    rows = [
        dict(skey, unit_id=i, spike_times=s, drive=d.drive)
        for i, (d, s) in enumerate(zip(drives, trains, strict=True))
    ]
    Unit.insert(rows)
    return [{k: r[k] for k in (*skey, "unit_id")} for r in rows]


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------


def lick_triggered(
    spike_times: np.ndarray,
    lick_onsets: np.ndarray,
    window: tuple[float, float] = (-0.5, 0.5),
    bin_s: float = 0.01,
) -> analysis.PeriEvent:
    """Lick-triggered firing rate: spikes around each lick onset, Hz per bin (a PSTH per lick)."""
    return analysis.peri_event_rate(spike_times, lick_onsets, window=window, bin_s=bin_s)


def lick_modulation(
    spike_times: np.ndarray,
    lick_onsets: np.ndarray,
    span: tuple[float, float],
    *,
    response: tuple[float, float] = (0.0, 0.08),
    quiet_s: float = 0.5,
    dt_s: float = 1e-3,
) -> dict:
    """A unit's rate just after lick onsets against its rate away from licks.

    Parameters
    ----------
    spike_times, lick_onsets : array_like
        Seconds, same clock.
    span : (float, float)
        Recording span over which the baseline is measured, s (e.g. the first and last frame).
    response : (float, float)
        Window after each onset, s.
    quiet_s : float
        Baseline: times further than this from every lick onset, s.
    dt_s : float
        Resolution of the baseline's duration, s.

    Returns
    -------
    dict
        ``response_hz``, ``baseline_hz``, ``ratio`` and the spike counts behind them.
    """
    spikes = np.asarray(spike_times, dtype=np.float64)
    onsets = np.sort(np.asarray(lick_onsets, dtype=np.float64))
    psth = analysis.peri_event_rate(
        spikes, onsets, window=response, bin_s=response[1] - response[0]
    )
    n_response = int(round(psth.values.sum() * psth.bin_s))
    response_hz = float(psth.values.mean()) if len(onsets) else float("nan")

    def far(t):
        """True where ``t`` is further than ``quiet_s`` from every lick onset."""
        if not len(onsets):
            return np.ones(np.shape(t), bool)
        i = np.searchsorted(onsets, t)
        before = onsets[np.clip(i - 1, 0, len(onsets) - 1)]
        after = onsets[np.clip(i, 0, len(onsets) - 1)]
        return np.minimum(np.abs(t - before), np.abs(t - after)) > quiet_s

    grid = np.arange(span[0], span[1], dt_s)
    quiet_duration = float(far(grid).sum() * dt_s)
    in_span = spikes[(spikes >= span[0]) & (spikes < span[1])]
    n_quiet = int(far(in_span).sum())
    baseline_hz = n_quiet / quiet_duration if quiet_duration > 0 else float("nan")
    return dict(response_hz=response_hz, baseline_hz=baseline_hz, ratio=response_hz / baseline_hz,
                n_response_spikes=n_response, n_quiet_spikes=n_quiet, quiet_s_total=quiet_duration)  # fmt: skip


def pupil_rate_correlation(
    spike_times: np.ndarray, pupil_times: np.ndarray, pupil: np.ndarray, *, bin_s: float = 1.0
) -> float:
    """Correlation of a unit's rate with the pupil diameter, both averaged in ``bin_s`` bins."""
    edges = np.arange(pupil_times[0], pupil_times[-1], bin_s)
    rate = analysis.bin_counts(spike_times, edges) / bin_s
    return analysis.nan_corrcoef(rate, analysis.bin_mean(pupil_times, pupil, edges))


def analyse_session(
    session_restriction, *, camera: str = "left", feature_params: str = "ibl"
) -> list[dict]:
    """Per unit of one session: its drive, lick modulation and pupil-rate correlation.

    The join by session: ``Unit * PupilDiameter.proj("frame_times", "pupil_diameter_px")``
    (both keyed by the session; projections keep only the attributes used, so no secondary
    attribute names can clash). Licks: both side cameras merged, on the FPGA clock.
    """
    skey = analysis.session_key(session_restriction)
    pupil_rows = (
        Unit.proj("spike_times", "drive") * PupilDiameter.proj("clock", "frame_times", "pupil_diameter_px")
        & skey & {"camera_label": camera, "feature_params": feature_params}
    ).to_dicts()  # fmt: skip
    licks = analysis.lick_times(skey, clock="fpga", feature_params=feature_params)
    results = []
    for row in sorted(pupil_rows, key=lambda r: r["unit_id"]):
        spikes = np.asarray(row["spike_times"])
        if row["clock"] != "fpga":
            raise ValueError(
                f"pupil of {session_name(skey)} is on the {row['clock']} clock; spikes are on the FPGA clock"
            )
        t = np.asarray(row["frame_times"])
        pupil = np.asarray(row["pupil_diameter_px"])
        mod = lick_modulation(spikes, licks, (float(t[0]), float(t[-1])))
        results.append(dict(unit_id=row["unit_id"], drive=row["drive"], n_spikes=len(spikes), n_licks=len(licks),
                            lick_ratio=mod["ratio"], baseline_hz=mod["baseline_hz"], response_hz=mod["response_hz"],
                            pupil_r=pupil_rate_correlation(spikes, t, pupil)))  # fmt: skip
    return results


def _simulated_session_module():
    path = Path(__file__).with_name("simulated_session.py")
    spec = importlib.util.spec_from_file_location("examples_simulated_session", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> list[dict]:
    """Record a simulated session, insert units, print the per-unit results, write two figures."""
    import schemas
    from pipeline.plots_session import plot_peri_event
    from schemas.config import resolve_settings

    parser = argparse.ArgumentParser(description="Join video features with simulated ephys units.")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("ephys_example"))
    args = parser.parse_args(argv)
    settings = resolve_settings(args.data_root)
    schemas.activate(settings)
    activate()
    sim = _simulated_session_module()
    rec = sim.record_and_sync(settings.data_root, "EX001", duration_s=args.duration, seed=args.seed)
    key = sim.ingest(rec["folder"])
    sim.insert_truth_pose(key, rec["folder"])
    sim.populate_features(key)
    insert_units(key, rec["folder"], seed=args.seed)
    results = analyse_session(key)
    for r in results:
        print(f"unit {r['unit_id']} ({r['drive']:6s}): {r['n_spikes']} spikes, lick ratio {r['lick_ratio']:.2f} "
              f"({r['response_hz']:.1f} vs {r['baseline_hz']:.1f} Hz), pupil r = {r['pupil_r']:+.2f}")  # fmt: skip
    licks = analysis.lick_times(key, clock="fpga")
    spikes = (Unit & key & {"unit_id": 0}).fetch1("spike_times")
    psth = lick_triggered(np.asarray(spikes), licks)
    plot_peri_event(args.out / "lick_triggered_unit0.png", psth.values, psth.time_axis, ylabel="rate (Hz)",
                    event_name="lick onset", title="unit 0 around lick onsets")  # fmt: skip
    analysis.plot_session(key, args.out / "session.png")
    print(f"figures in {args.out}")
    return results


if __name__ == "__main__":
    main()
