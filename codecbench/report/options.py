"""Options of the static report, validated from the suite's ``report:`` section.

The same model is filled from the suite (stored in the run manifest) and overridden from the
command line, so a report can be rebuilt later with exactly the settings the run declared.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReportOptions(BaseModel):
    """What the report shows and how it stores audio.

    Attributes:
        title: page title; defaults to the suite name.
        anchor: codec label (``APCodec``), adapter name, or one operating point (``APCodec_6``)
            that Bjøntegaard deltas and paired significance tests are computed against.
        demo_selection: how demo utterances are picked: the first N (sorted ids), a seeded
            random N, or the N utterances with the worst / best mean of ``demo_metric``.
        demo_metric: metric ranking utterances for ``worst`` / ``best``.
        demo_items: N, the number of demo utterances per dataset.
        page_size: demo rows per page (long demo tables are split into pages).
        audio_format: ``flac`` (default) re-encodes the players' audio to 24-bit FLAC (float
            input is quantised to 24 bits), about half the size of WAV; ``wav`` writes 24-bit
            WAV for players that lack FLAC; ``copy`` keeps the files as they are.
        spectrograms: draw a spectrogram thumbnail under every demo player (one frequency axis
            and one dB colour scale per utterance row).
        bootstrap: bootstrap resamples for the confidence intervals of the means.
        ci_level: confidence level of those intervals.
        alpha: family-wise significance level of the Holm-corrected Wilcoxon tests.
        bd_method: ``pchip`` (piecewise-cubic, needs >= 2 points per curve) or ``cubic``
            (Bjøntegaard's original polynomial fit, needs >= 4 points; falls back to pchip).
        seed: seed of the bootstrap and of random demo selection.
        all_items: also show each condition's mean over all its own scored utterances, labelled
            unpaired (the main numbers always use the utterances every condition scored).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Optional[str] = None
    anchor: Optional[str] = None
    demo_selection: Literal["first", "random", "worst", "best"] = "first"
    demo_metric: Optional[str] = None
    demo_items: int = Field(default=10, ge=1, le=10_000)
    page_size: int = Field(default=25, ge=1, le=10_000)
    audio_format: Literal["flac", "wav", "copy"] = "flac"
    spectrograms: bool = True
    bootstrap: int = Field(default=2000, ge=100, le=100_000)
    ci_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    bd_method: Literal["pchip", "cubic"] = "pchip"
    seed: int = 0
    all_items: bool = False

    @model_validator(mode="after")
    def _metric_needed(self) -> "ReportOptions":
        if self.demo_selection in ("worst", "best") and not self.demo_metric:
            raise ValueError(f"report.demo_selection={self.demo_selection!r} needs report.demo_metric "
                             "(the metric that ranks utterances)")
        return self
