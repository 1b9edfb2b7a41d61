"""Structured-config schemas: the single source of truth for every key a run accepts.

Registered in Hydra's ConfigStore so a misspelt key or a wrong type fails at
composition time, before any data is loaded. This module must not import torch:
`regstudy train --cfg job` composes configs without paying for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    # LeNet5: "classic" (LeCun 6-16-120-84) or "caffe" (20-50-500, the PSP paper's code).
    variant: str = "classic"
    activation: str = "relu"
    init: str = "default"
    # Normalization placement: none | bn_before_act | bn_after_act (reg=bn_* overrides it).
    norm: str = "none"
    # Architecture dropout the published model has (All-CNN-C); reg=dropout adds more.
    dropout: float = 0.0
    # The same on the input image (All-CNN-C: 0.2).
    input_dropout: float = 0.0
    width: int = 32
    blocks_per_stage: int = 0
    residual: bool = False
    leaky_slope: float = 0.01


@dataclass
class DatasetConfig:
    name: str = MISSING
    # Data root: $REGSTUDY_DATA, else ./data (the ${data_root:} resolver, regstudy.paths).
    root: str = "${data_root:}"
    download: bool = True
    # Skip torchvision's MD5 check of CIFAR files (for small files tests write).
    verify_checksums: bool = True
    val_size: int = 5000
    split_seed: int = 0
    augment: bool = False
    # Use only the first N training images (0 = all), and the first N validation/test
    # images (test_subset); for smoke runs and tests.
    subset: int = 0
    test_subset: int = 0


@dataclass
class L2Config:
    strength: float = 1e-4
    # penalty: add strength/2 * ||theta||^2 to the loss; weight_decay: optimizer's weight_decay.
    mode: str = "penalty"
    exclude_bias_and_norm: bool = False


@dataclass
class DropoutConfig:
    p: float = 0.5
    # Where: fc (after hidden fully-connected activations), conv (after each conv block), input.
    where: List[str] = field(default_factory=lambda: ["fc"])


@dataclass
class BatchNormConfig:
    placement: str = "bn_before_act"


@dataclass
class PSPConfig:
    strength: float = 1e-3
    # layer_mean: (lambda/L) sum_l mean(z_l^2) (the authors' code); sum: lambda * 1/2 sum z^2 per sample.
    reduction: str = "layer_mean"
    include_logits: bool = True
    # Site names to penalise (empty = every activation input plus the logits).
    sites: List[str] = field(default_factory=list)


@dataclass
class RegConfig:
    """Active regularizers, keyed by name; absent (null) means off. Compose with reg=[l2,dropout].

    `strength` and `p` are shorthands for the one active regularizer that has that
    parameter (reg=psp reg.strength=1e-3); see regstudy.config.shorthand.
    """

    strength: Optional[float] = None
    p: Optional[float] = None
    l2: Optional[L2Config] = None
    dropout: Optional[DropoutConfig] = None
    bn: Optional[BatchNormConfig] = None
    psp: Optional[PSPConfig] = None


@dataclass
class OptimConfig:
    """The default run's optimizer (SGD, lr 0.05, momentum 0.9); configs/optim/NAME.yaml states
    only what another optimizer changes."""

    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    alpha: float = 0.99
    rho: float = 0.9


@dataclass
class SchedConfig:
    """The default run's schedule (cosine annealing, stepped per epoch); configs/sched/NAME.yaml
    states only what another schedule changes."""

    # none | step (x gamma at each milestone epoch) | cosine (to eta_min over t_max epochs)
    name: str = "cosine"
    milestones: List[int] = field(default_factory=list)
    gamma: float = 0.1
    eta_min: float = 0.0
    # cosine: anneal over this many epochs (0 = trainer.epochs).
    t_max: int = 0


@dataclass
class TrainerConfig:
    """How a run trains; every default is here (configs/trainer/default.yaml adds nothing)."""

    epochs: int = 10
    batch_size: int = 100
    eval_batch_size: int = 1000
    # auto (CUDA when there is one, else CPU) | cpu | cuda | cuda:N
    device: str = "auto"
    deterministic: bool = False
    # none | bf16 | fp16 (CUDA only)
    amp: str = "none"
    # fp16 only: the GradScaler's starting loss scale (steps whose scaled gradients overflow
    # are skipped and the scale halves; a huge value forces that, as tests/test_cuda.py does).
    amp_init_scale: float = 65536.0
    log_every_n_steps: int = 100
    # torch intra-op threads (0 = auto: CPUs / parallel jobs under the joblib and submitit
    # launchers, else OMP_NUM_THREADS, else every CPU (under SLURM: of the allocation);
    # regstudy.threads.auto_threads).
    # The resolved number is recorded in metrics.json's config.
    threads: int = 0
    # Stop after this many optimizer steps in total (0 = no limit); for smoke runs.
    max_steps: int = 0
    # Stop after this many epochs without a lower validation loss (0 = off).
    early_stop_patience: int = 0
    channels_last: bool = False
    # torch.compile the model (compile time is paid on the first steps; see bench/speed.py).
    compile: bool = False
    # auto (a bar on a terminal, else one line per epoch) | bar | lines
    progress: str = "auto"
    # Clip the global gradient norm to this value (0 = off).
    grad_clip: float = 0.0
    # Continue from run_dir/checkpoint.pt when there is one; false starts the run over.
    resume: bool = True
    # <z^2> per activation site (zsq/*, zsq_val/*) on every N-th training batch (0 = off).
    zsq_every_n_steps: int = 1


@dataclass
class DiagConfig:
    """Gradient-flow and activation diagnostics recorded while training (regstudy.diagnostics):
    TensorBoard, metrics.json's history and grad_flow.png. The defaults record once per epoch,
    cheap enough to leave on (results/diag_overhead.md); configs/diag/default.yaml adds nothing."""

    enabled: bool = True
    # Record every N optimizer steps; 0 = the last training batch of each epoch (cheap enough
    # to leave on). The TensorBoard x axis is the epoch for 0, the step otherwise.
    every_n_steps: int = 0
    # |grad| histograms and the gradient-flow figure in TensorBoard every N epochs and at the
    # last one (0 = never): they cost more than the scalars.
    hist_every_n_epochs: int = 5
    # Also show batch-norm (and other norm-layer) weights, and biases, in the gradient flow.
    norm_weights: bool = False
    biases: bool = False
    # Mean, std and fraction of exact zeros (dead ReLUs) of every activation's output.
    activations: bool = True


@dataclass
class ProbeConfig:
    """Options of `regstudy probe`, given as probe.KEY=VALUE beside the usual model overrides.

    Not part of `Config`: a training run never reads them.
    """

    # model: per-layer table of the configured model; init: deep plain ReLU MLP under each
    # scheme in `inits`; dropout: one ReLU layer with inverted dropout; variance_shift:
    # dropout before batch norm (Li et al. 2019).
    checks: List[str] = field(default_factory=lambda: ["model"])
    # data: shuffled training batches; gaussian: standard-normal inputs of the data's shape.
    input: str = "data"
    batches: int = 4
    batch_size: int = 128
    # Where to save the figure ("" = none).
    figure: str = ""
    # init check: width and depth of the plain ReLU MLP, samples pushed through it, schemes.
    width: int = 512
    depth: int = 20
    samples: int = 1000
    inits: List[str] = field(
        default_factory=lambda: ["kaiming_normal", "lecun_normal", "uniform_fan_in"])
    # dropout / variance_shift checks: drop probability, input dim, hidden units, samples.
    p: float = 0.5
    in_dim: int = 1024
    units: int = 512
    dropout_samples: int = 4000


@dataclass
class StudyTuneConfig:
    """Stage 1 of `regstudy study`: an Optuna search per arm, on validation only."""

    # Trials per tuned arm; 0: no tuning, every arm trains at the preset's values.
    trials: int = 20
    # Epochs of each tuning trial (0 = trainer.epochs).
    epochs: int = 0
    sampler: str = "tpe"
    pruner: str = "median"
    sampler_seed: int = 0
    # Training seed of every trial; the final seeds never include it.
    seed: int = 0
    objective: str = "best_val_acc"
    # null: the objective's natural direction (maximize an accuracy, minimize a loss or error).
    direction: Optional[str] = None
    # The median pruner judges a trial from this epoch on (one epoch does not rank strengths).
    prune_from_epoch: int = 2
    # TPE's random start-up trials: this fraction of the trials (at least 2), so a study's
    # search models the landscape instead of staying a random search.
    startup_fraction: float = 0.3
    # Before an arm's winner is fixed, its confirm_top best trials are re-run on confirm_seeds
    # more seeds and the best mean wins (0 = the single-seed best).
    confirm_top: int = 3
    confirm_seeds: int = 2


@dataclass
class StudyFinalConfig:
    """Stage 2: each arm's best configuration re-trained with fresh seeds and tested."""

    # A number of seeds, or "auto": seeds added in looks (after looks[i] seeds per arm every
    # open arm is tested with a group-sequential boundary) until each arm is decided or
    # max_seeds is reached; needs study.sesoi.
    seeds: Any = 5
    min_seeds: int = 3
    max_seeds: int = 8
    # Seeds per arm after which seeds=auto tests ([] = [min_seeds, max_seeds]).
    looks: List[int] = field(default_factory=lambda: [3, 5, 8])
    # Family-wise error rate over the arms and looks, and the alpha-spending function.
    alpha: float = 0.05
    spending: str = "obf"
    # paired: per-seed differences (every arm runs the same seeds); welch: unpaired.
    analysis: str = "paired"
    # Final seeds are seed_offset, seed_offset + 1, ... (so they differ from tune.seed).
    seed_offset: int = 1000
    # Epochs of each final run (0 = trainer.epochs).
    epochs: int = 0
    metric: str = "test_error"


@dataclass
class StudyGridConfig:
    """Optional stage: the source study's own grid, run on validation (knob -> values)."""

    enabled: bool = False
    values: Dict[str, Any] = field(default_factory=dict)
    # Arms to run the grid for ([] = every selected arm that has a grid knob).
    arms: List[str] = field(default_factory=list)
    # Training seeds tune.seed, tune.seed + 1, ...; epochs are tune.epochs.
    seeds: int = 1


@dataclass
class StudyConfig:
    """A fair comparison of regularizers, run by `regstudy study` (empty: no study declared).

    Arms map a name to regularizers (configs/reg options). `space` holds each knob's search
    space in Hydra sweep syntax, nested as in the config (reg: {l2: {strength: ...}}); an arm
    searches the knobs of it that it has, or exactly `arm_space[arm]` when given.
    """

    arms: Dict[str, List[str]] = field(default_factory=dict)
    # Run only these arms ([] = every arm); the baseline arm is always run.
    only: List[str] = field(default_factory=list)
    space: Dict[str, Any] = field(default_factory=dict)
    arm_space: Dict[str, Any] = field(default_factory=dict)
    baseline: str = "none"
    # Smallest effect of interest, in the units the table prints (percentage points for errors
    # and accuracies): a difference inside +-sesoi is "no difference larger than sesoi".
    sesoi: Optional[float] = None
    # The source's claims, judged by the study: {claim: text, arm: A, than: [B, ...] or all,
    # metric: test_error|zsq|..., expect: lower|higher|equal}.
    claims: List[Any] = field(default_factory=list)
    # Remove-one ablation of this arm at its tuned values ("" = none; "best" = the arm of
    # two or more regularizers best on validation).
    ablation: str = ""
    # Overrides every stage's sweep gets: the launcher (joblib here, submitit on a cluster).
    launcher: List[str] = field(
        default_factory=lambda: ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    tune: StudyTuneConfig = field(default_factory=StudyTuneConfig)
    final: StudyFinalConfig = field(default_factory=StudyFinalConfig)
    grid: StudyGridConfig = field(default_factory=StudyGridConfig)


@dataclass
class SearchConfig:
    """Set by the Optuna sweeper on each trial (null otherwise): the study the run reports its
    per-epoch validation metric to, so the study's pruner can stop it (regstudy.search)."""

    study: Optional[str] = None
    storage: Optional[str] = None
    trial: Optional[int] = None
    objective: Optional[str] = None
    direction: Optional[str] = None


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: SchedConfig = field(default_factory=SchedConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    diag: DiagConfig = field(default_factory=DiagConfig)
    # Read by `regstudy study` only; a training run ignores it.
    study: StudyConfig = field(default_factory=StudyConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    seed: int = 0
    # Names the run's output folder (hydra.run.dir in configs/train.yaml).
    name: str = "${model.name}-${dataset.name}"


def register_configs() -> None:
    """Register the schema so `configs/train.yaml` can validate against it, and the
    `${data_root:}` resolver the dataset configs use."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from ..paths import data_root

    OmegaConf.register_new_resolver("data_root", data_root, replace=True)

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
