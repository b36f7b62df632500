"""The promotion gate: a pure decision on one version's offline metrics against an absolute bound and against the
current production version (relative gain). Decimals throughout — the thresholds in spec are decimal strings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from herder.api.common import LOWER_IS_BETTER, from_decimal, to_decimal
from herder.api.model import PromotionGate


@dataclass(frozen=True)
class GateVerdict:
    metric: str
    passed: bool
    value: Decimal | None
    baseline: Decimal | None
    relative_gain: Decimal | None
    message: str

    def wire(self, at: str) -> dict[str, object]:
        out: dict[str, object] = {"metric": self.metric, "passed": self.passed, "evaluatedAt": at,
                                  "message": self.message}
        if self.value is not None:
            out["value"] = from_decimal(self.value)
        if self.baseline is not None:
            out["baseline"] = from_decimal(self.baseline)
        if self.relative_gain is not None:
            out["relativeGain"] = from_decimal(self.relative_gain)
        return out


def evaluate_gate(gate: PromotionGate, metrics: dict[str, str], baseline_metrics: dict[str, str] | None,
                  baseline_version: int | None = None) -> GateVerdict:
    m = gate.metric
    if m not in metrics:
        return GateVerdict(m, False, None, None, None,
                           f"metric {m!r} missing from the version's metrics ({', '.join(sorted(metrics)) or 'none'})")
    value = to_decimal(metrics[m])
    lower_better = m in LOWER_IS_BETTER
    if gate.min is not None and value < to_decimal(gate.min):
        return GateVerdict(m, False, value, None, None, f"{m} {value} is below the minimum {gate.min}")
    if gate.max is not None and value > to_decimal(gate.max):
        return GateVerdict(m, False, value, None, None, f"{m} {value} is above the maximum {gate.max}")
    baseline = to_decimal(baseline_metrics[m]) if baseline_metrics and m in baseline_metrics else None
    gain = None
    if baseline is not None:
        diff = (baseline - value) if lower_better else (value - baseline)
        gain = diff / abs(baseline) if baseline != 0 else (Decimal(0) if diff == 0 else Decimal(1))
        if gate.min_relative_gain is not None and gain < to_decimal(gate.min_relative_gain):
            return GateVerdict(m, False, value, baseline, gain,
                               f"{m} {value} vs production v{baseline_version} {baseline}: relative gain "
                               f"{from_decimal(gain)} < required {gate.min_relative_gain}")
    against = f" vs production v{baseline_version} {baseline}" if baseline is not None else ""
    return GateVerdict(m, True, value, baseline, gain, f"{m} {value}{against} passes the gate")
