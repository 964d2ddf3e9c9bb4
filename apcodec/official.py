"""The official APCodec repository's ``config.json``, read as it is.

The official code passes one flat JSON mapping (``h``) everywhere. Its keys fall in four groups:

* model keys, mapped to :class:`~apcodec.config.ModelConfig` fields (:data:`MODEL_KEYS`); the
  widths the official code hard-codes may be given as ``convnext_dim`` and friends, as in the
  golden-vector fixture (``../shared/fixtures/apcodec_golden_tiny/config.json``);
* twins of a model key for the phase branch or the decoder (:data:`TWIN_KEYS`): this model has
  one value for both, so they must agree with the key they repeat;
* training keys, mapped to the ``train:`` / ``loss:`` sections (:data:`TRAIN_KEYS`, ``adam_b1`` +
  ``adam_b2`` -> ``betas``, ``num_mels_for_loss`` -> ``loss.n_mels``);
* keys nothing here uses (:data:`IGNORED_KEYS`: output folders, the TensorBoard interval, the
  HiFi-GAN resblock lists the ConvNeXt model never reads), returned so the loader can name them
  in one note.

Any other key is a located error with a did-you-mean, like every config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from codecbench.configfile import KeyPath, Locator, check_keys

#: official key -> ModelConfig field
MODEL_KEYS: dict[str, str] = {
    "sampling_rate": "sample_rate", "n_fft": "n_fft", "hop_size": "hop_size", "win_size": "win_size",
    "convnext_dim": "channels", "convnext_intermediate_dim": "intermediate", "convnext_layers": "num_layers",
    "AMP_Encoder_channel": "branch_channels", "AMP_Encoder_input_conv_kernel_size": "embed_kernel",
    "AMP_Encoder_output_downconv_kernel_size": "downsample_kernel",
    "latent_output_conv_kernel_size": "latent_output_kernel", "latent_input_conv_kernel_size": "latent_input_kernel",
    "AMP_Decoder_input_upconv_kernel_size": "upsample_kernel", "AMP_Decoder_output_conv_kernel_size": "output_kernel",
    "ratio": "ratio", "latent_dim": "latent_dim", "n_codebooks": "n_codebooks", "codebook_size": "codebook_size",
}

#: official key -> the official key it must equal (one ModelConfig field serves both)
TWIN_KEYS: dict[str, str] = {
    "PHA_Encoder_channel": "AMP_Encoder_channel", "AMP_Decoder_channel": "AMP_Encoder_channel",
    "PHA_Decoder_channel": "AMP_Encoder_channel",
    "PHA_Encoder_input_conv_kernel_size": "AMP_Encoder_input_conv_kernel_size",
    "PHA_Encoder_output_downconv_kernel_size": "AMP_Encoder_output_downconv_kernel_size",
    "PHA_Decoder_input_upconv_kernel_size": "AMP_Decoder_input_upconv_kernel_size",
    "PHA_Decoder_output_R_conv_kernel_size": "AMP_Decoder_output_conv_kernel_size",
    "PHA_Decoder_output_I_conv_kernel_size": "AMP_Decoder_output_conv_kernel_size",
}

#: official key -> (section, field) of the experiment file
TRAIN_KEYS: dict[str, tuple[str, str]] = {
    "batch_size": ("train", "batch_size"), "learning_rate": ("train", "learning_rate"),
    "lr_decay": ("train", "lr_decay"), "seed": ("train", "seed"), "training_epochs": ("train", "max_epochs"),
    "stdout_interval": ("train", "log_interval"), "checkpoint_interval": ("train", "checkpoint_interval"),
    "validation_interval": ("train", "validation_interval"), "segment_size": ("train", "segment_size"),
    "num_workers": ("train", "num_workers"), "num_mels_for_loss": ("loss", "n_mels"),
    "adam_b1": ("train", "betas"), "adam_b2": ("train", "betas"),
}

_BRANCHES = ("AMP_Encoder", "PHA_Encoder", "AMP_Decoder", "PHA_Decoder")

#: official keys with no equivalent here (training-only or unused by the official model code)
IGNORED_KEYS: frozenset[str] = frozenset(
    {"test_wav_output_dir", "checkpoint_path", "summary_interval", "num_mels", "num_gpus", "dist_config",
     "fmin", "fmax", "fmax_for_loss", "_note"}
    | {f"{b}_resblock_{k}" for b in _BRANCHES for k in ("kernel_sizes", "dilation_sizes")})


@dataclass(frozen=True)
class OfficialSections:
    """An official ``config.json`` split into experiment sections.

    Attributes:
        model: ModelConfig fields (unvalidated; bind with ``ModelConfig.from_dict(model, locate)``).
        train, loss: the ``train:`` / ``loss:`` mappings the training keys give.
        ignored: official keys present in the file that nothing here uses, sorted.
        locate: locates ``("model", field)`` / ``("train", field)`` at the official key's line.
    """

    model: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    locate: Locator = field(default_factory=lambda: Locator("official config", {}))


def official_sections(h: Mapping[str, Any], locate: Locator) -> OfficialSections:
    """Split an official ``config.json`` mapping; ``locate`` holds the file's line numbers.

    Raises:
        ConfigError: an unknown key (did-you-mean over the official keys), or twins that differ.
    """
    known = set(MODEL_KEYS) | set(TWIN_KEYS) | set(TRAIN_KEYS) | IGNORED_KEYS
    check_keys(h, known, (), locate, note=" (official APCodec config.json keys)")
    for twin, key in TWIN_KEYS.items():
        if twin in h and key in h and h[twin] != h[key]:
            raise locate((twin,), f"is {h[twin]!r} but {key} is {h[key]!r}; this model uses one value for both, "
                                  "set them equal")
        if twin in h and key not in h:
            raise locate((twin,), f"given without {key}; set {key} (this model uses one value for both)")
    lines: dict[KeyPath, Any] = dict(locate.lines)
    model: dict[str, Any] = {}
    for key, name in MODEL_KEYS.items():
        if key in h:
            model[name] = h[key]
            _copy_line(lines, ("model", name), key)
    if "latent_dim" in h:  # the official quantizer projects to the latent width itself
        model["codebook_dim"] = h["latent_dim"]
        _copy_line(lines, ("model", "codebook_dim"), "latent_dim")
    sections: dict[str, dict[str, Any]] = {"train": {}, "loss": {}}
    for key, (section, name) in TRAIN_KEYS.items():
        if key in h and name != "betas":
            sections[section][name] = h[key]
            _copy_line(lines, (section, name), key)
    if "adam_b1" in h or "adam_b2" in h:
        if not ("adam_b1" in h and "adam_b2" in h):
            missing = "adam_b2" if "adam_b1" in h else "adam_b1"
            raise locate((missing,), "is missing: give both adam_b1 and adam_b2 (the AdamW betas)")
        sections["train"]["betas"] = [h["adam_b1"], h["adam_b2"]]
        _copy_line(lines, ("train", "betas"), "adam_b1")
    ignored = tuple(sorted(k for k in h if k in IGNORED_KEYS))
    return OfficialSections(model=model, train=sections["train"], loss=sections["loss"], ignored=ignored,
                            locate=Locator(locate.source, lines, locate.error))


def _copy_line(lines: dict[KeyPath, Any], target: KeyPath, key: str) -> None:
    """Locate the mapped key ``target`` at the official ``key``'s line (when the file gave lines)."""
    if (key,) in lines:
        lines[target] = lines[(key,)]
