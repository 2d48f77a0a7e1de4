"""Statistics with a known false-alarm rate: control charts, rate tests, paired tests, MMD.

Everything here takes numpy-compatible input, validates it (``StatsError`` on NaN, empty or
degenerate data), returns frozen results and takes an explicit ``rng`` wherever it simulates.
See DESIGN.md §4 for why each method was chosen and ``reference/statistics.md`` for the figures
the tests check.
"""

from canaryflow.stats._arl import cusum_arl, ewma_arl, ewma_L, ewma_L_for_baseline
from canaryflow.stats._bernoulli import BernoulliCUSUM, BernoulliPoint, bernoulli_cusum_arl
from canaryflow.stats._mmd import MMDResult, median_bandwidth, mmd2_unbiased, mmd_test
from canaryflow.stats._paired import (
    BootstrapCI,
    McNemarResult,
    PairedVerdict,
    WilcoxonResult,
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_verdict,
    wilcoxon_signed_rank,
)
from canaryflow.stats._probe_units import (
    calibrated_pass_cusum,
    posterior_nodes,
    probe_failed,
    probe_run_counts,
    simulate_baseline_alarm_rates,
)
from canaryflow.stats._rates import (
    Interval,
    RateTestResult,
    RateVerdict,
    bh_adjust,
    bh_reject,
    rate_drop_power,
    rate_drop_test,
    rate_verdict,
    wilson_interval,
)
from canaryflow.stats._simulate import CalibrationResult, calibrate_ewma_L, simulate_run_lengths
from canaryflow.stats._spc import ChangePoint, ChartPoint, CUSUMChart, EWMAChart

__all__ = [
    "BernoulliCUSUM",
    "BernoulliPoint",
    "BootstrapCI",
    "CUSUMChart",
    "CalibrationResult",
    "ChangePoint",
    "ChartPoint",
    "EWMAChart",
    "Interval",
    "MMDResult",
    "McNemarResult",
    "PairedVerdict",
    "RateTestResult",
    "RateVerdict",
    "WilcoxonResult",
    "bernoulli_cusum_arl",
    "bh_adjust",
    "bh_reject",
    "calibrate_ewma_L",
    "calibrated_pass_cusum",
    "cusum_arl",
    "ewma_L",
    "ewma_L_for_baseline",
    "ewma_arl",
    "mcnemar_exact",
    "median_bandwidth",
    "mmd2_unbiased",
    "mmd_test",
    "paired_bootstrap_ci",
    "paired_verdict",
    "posterior_nodes",
    "probe_failed",
    "probe_run_counts",
    "rate_drop_power",
    "rate_drop_test",
    "rate_verdict",
    "simulate_baseline_alarm_rates",
    "simulate_run_lengths",
    "wilcoxon_signed_rank",
    "wilson_interval",
]
