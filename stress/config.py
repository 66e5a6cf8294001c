"""Typed configuration: the dataclass schemas behind ``configs/`` and their checks.

Hydra composes YAML files from ``configs/`` on top of these schemas (registered in Hydra's
``ConfigStore`` by :func:`register`), so a wrong type is rejected while composing. The values
are then checked by :func:`validate`, which raises :class:`stress.errors.InputError` naming the
field, the value and what is allowed. Library code receives these plain dataclasses, never
OmegaConf objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from stress.errors import InputError, check_range

WORLD_KINDS = ("ree_world", "pymrio_test", "pymrio_dir")
SHOCK_KINDS = ("none", "capacity_loss")
SCENARIO_KINDS = ("baseline", "export_cutoff")
MAX_PATH_ID = 2**31 - 1
"""The largest path id, path count or chunk size: the engine numbers paths with int32, and
``jax.random.fold_in`` folds in 32 bits only (a larger id would repeat an earlier path's draws)."""


@dataclass
class WorldConfig:
    """Which MRIO to load, and from where.

    - ``ree_world``: the shipped rare-earth world; with ``path``, the same table read from that
      folder's ``Z.csv`` and ``Y.csv`` (and ``criticality.csv`` if present; the shipped one
      otherwise), e.g. as written by ``python -m stress.mrio.ree_world.build --out DIR``.
    - ``pymrio_test``: pymrio's bundled test table; ``path`` must be null.
    - ``pymrio_dir``: a table saved with pymrio's ``IOSystem.save_all`` in the folder ``path``.
    """

    name: str = "ree_world"
    path: str | None = None


@dataclass
class ModelConfig:
    """ARIO parameters (ARIO.md; defaults are BoARIO's ``ARIOPsiModel`` as used there)."""

    name: str = "ario"
    horizon_days: int = 365
    inventory_days: float = 90.0
    psi: float = 0.8
    inventory_tau: float = 60.0
    alpha_base: float = 1.0
    alpha_max: float = 1.25
    alpha_tau: float = 365.0
    order_type: str = "alt"
    boario_quirks: bool = True
    kernel: str = "compact"  # "plain": the (n, n) orders matrix, the reference implementation
    year_to_day: float = 365.0
    demand_elasticity: float = 0.5  # configs/model/ario.yaml gives the sources
    substitution_elasticity: float = 0.5


@dataclass
class SamplerConfig:
    """Monte Carlo settings. Results depend on ``seed`` and ``n_paths`` only, never on ``chunk_size``."""

    n_paths: int = 8192
    chunk_size: int = 1024
    seed: int = 0


@dataclass
class ShockConfig:
    """A deterministic capacity loss applied to every path (and to ``simulate``).

    ``start_day`` is the first day with reduced capacity; the loss stays at ``fraction`` for
    ``duration_days`` days, then shrinks linearly to zero over ``recovery_days`` days.
    ``region`` and ``sector`` take one name or a list; every listed pair is hit. A loss that does
    nothing is refused: ``fraction`` is in (0, 1], ``start_day`` before ``model.horizon_days``
    and ``duration_days + recovery_days >= 1``. With ``kind: none`` every other field is unset.
    """

    kind: str = "none"
    region: Any = None
    sector: Any = None
    fraction: float = 0.0
    start_day: int = 0
    duration_days: int = 0
    recovery_days: int = 0


@dataclass
class CutoffConfig:
    """Duration of the full cut-off, log-normal: ``median_days * exp(sigma * N(0, 1))``."""

    median_days: float = 60.0
    sigma: float = 0.7


@dataclass
class LicenceConfig:
    """Licensing after the cut-off: weekly approvals per pending application.

    Each destination has ``applications`` equal shares of the controlled flow. After the cut-off
    and ``review_days`` of review, each pending application is approved in a given week with
    probability ``p``; ``p`` is drawn per path and destination from Beta(``approval_a``,
    ``approval_b``).
    """

    approval_a: float = 2.0
    approval_b: float = 18.0
    applications: int = 10
    review_days: float = 0.0


@dataclass
class ScenarioConfig:
    """A disruption scenario (selected with ``+scenario=NAME``).

    An ``export_cutoff`` starts before ``model.horizon_days`` and hits ``destinations`` (null:
    every region but the exporter; never an empty list). A ``baseline`` uses none of the fields
    after ``kind``. ``controlled_share`` is the share of each restricted link's value that the
    controls cover (1: all of it; null: the calibrated posterior's ``export_controlled_share``,
    the April 2025 controls' share of China's magnet exports). ``start_date`` dates day 0 (ISO
    date) so that monthly outputs follow calendar months; null: 30-day months.
    ``frequency_per_year``: how often such an episode starts, per year, where a source supports
    one; with it the results give return periods (``ds.stress.return_period``). null: the
    scenario is conditional (the losses given that it happens), the default for every shipped one.
    """

    name: str = "baseline"
    description: str = ""
    kind: str = "baseline"
    exporter: str = "CHN"
    products: list[str] = field(default_factory=list)
    destinations: list[str] | None = None
    start_day: int = 0
    start_date: str | None = None
    controlled_share: float | None = 1.0
    frequency_per_year: float | None = None
    cutoff: CutoffConfig = field(default_factory=CutoffConfig)
    licence: LicenceConfig = field(default_factory=LicenceConfig)


@dataclass
class MetricsConfig:
    """What is measured per path and how it is summarised.

    ``halt_threshold``: a deep cut is output below this share of baseline (``deep_cut_probability``).
    ``constraint_threshold``: a first plant halt is output cut by missing inputs by more than this
    share of what demand and capacity allow (``halt_probability``; 0.01, see :mod:`stress.metrics`).
    ``focus_sector``: a sector shown by region in the summary (null: none).
    ``quantiles``: probability levels of the value at risk and expected shortfall (the 90/95/99/
    99.5 % levels of catastrophe-risk reporting, and the median).
    ``relative_accuracy``: of the quantile sketches (:mod:`stress.sketch`): every quantile, bound
    and expected shortfall is read within this relative error of the sample's own value (0.005:
    0.5 %, finer than the Monte Carlo interval of a 99 % quantile below 10^6 paths).
    ``attribution_paths``: the first paths (by id) whose drivers and losses are kept for the
    attribution (sensitivity indices, drivers in the tail); memory grows with it, not with
    ``sampler.n_paths``.
    """

    halt_threshold: float = 0.5
    constraint_threshold: float = 0.01
    focus_sector: str | None = None
    quantiles: list[float] = field(default_factory=lambda: [0.5, 0.9, 0.95, 0.99, 0.995])
    relative_accuracy: float = 0.005
    attribution_paths: int = 20_000
    top_n: int = 10


CALIBRATION_MODELS = ("licence", "export_shock", "inventory", "regime")


@dataclass
class CalibrationConfig:
    """Calibration with NumPyro (``python -m stress calibrate``) and the posterior that runs use.

    ``posterior``: ``bundled`` (the posterior shipped with the package), ``none`` (the hand-set
    priors of the scenario and the world's data), or the path of a file written by
    ``calibrate``. ``output``: where ``calibrate`` writes (null: ``posterior.nc`` in the run
    folder; ``bundled``: replace the package's bundled posterior).
    """

    posterior: str | None = "bundled"
    models: list[str] = field(default_factory=lambda: list(CALIBRATION_MODELS))
    chains: int = 4
    warmup: int = 1000
    samples: int = 1000
    seed: int = 0
    thin: int = 2
    force: bool = False
    output: str | None = None


@dataclass
class RegimeConfig:
    """The escalation chain of China's export-control regime (:mod:`stress.shocks.regime`)."""

    enabled: bool = False
    initial: str = "calm"
    states: dict[str, Any] = field(default_factory=dict)
    coupling_cn_to_us: float = 1.0
    coupling_us_to_cn: float = 1.0
    events: list[Any] = field(default_factory=list)


@dataclass
class TariffsConfig:
    """US-China tariff levels as a weekly chain, each with its tariff rules (:mod:`stress.shocks.tariffs`)."""

    enabled: bool = False
    initial: str = "base_2024"
    levels: dict[str, Any] = field(default_factory=dict)


@dataclass
class LicensingConfig:
    """Licensing by product group, destination and week (:mod:`stress.shocks.licensing`)."""

    enabled: bool = False
    applications: int = 10
    approval_a: float = 2.0
    approval_b: float = 18.0
    destination_hazard: dict[str, float] = field(default_factory=dict)
    initial_approved: float = 0.0
    groups: dict[str, Any] = field(default_factory=dict)
    regimes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExtraterritorialConfig:
    """The 0.1 % rule on third regions' exports (:mod:`stress.shocks.licensing`)."""

    enabled: bool = False
    threshold: float = 0.001
    sectors: list[str] = field(default_factory=list)
    phi: dict[str, float] = field(default_factory=dict)
    regimes: list[str] = field(default_factory=list)


@dataclass
class HaltsConfig:
    """Plant halts, restart lags and re-sequencing losses (:mod:`stress.shocks.halts`)."""

    enabled: bool = False
    sectors: list[str] = field(default_factory=list)
    halt_below: float = 0.5
    lag_median_days: float = 7.0
    lag_sigma: float = 0.5
    penalty: float = 0.2
    penalty_days: float = 14.0


@dataclass
class OutagesConfig:
    """Idiosyncratic outages of producers outside China (:mod:`stress.shocks.outages`)."""

    enabled: bool = False
    sectors: list[str] = field(default_factory=list)
    regions: list[str] | None = None
    yearly_hazard: float = 0.05
    loss_min: float = 0.2
    loss_max: float = 1.0
    duration_median_days: float = 30.0
    duration_sigma: float = 0.8
    recovery_days: float = 30.0


@dataclass
class EquipmentConfig:
    """New capacity outside China, slowed by equipment controls (:mod:`stress.shocks.equipment`)."""

    enabled: bool = False
    projects: list[Any] = field(default_factory=list)
    stretch_min: float = 1.0
    stretch_max: float = 1.5
    regimes: list[str] = field(default_factory=list)


@dataclass
class DiversionConfig:
    """Trade diversion toward open markets (:mod:`stress.shocks.diversion`)."""

    enabled: bool = False
    sectors: list[str] = field(default_factory=list)
    closed_market: str = "USA"
    full_at: float = 1.0
    discount_min: float = 0.0
    discount_max: float = 0.1


@dataclass
class PredatoryConfig:
    """Predatory price cuts and closures outside China (:mod:`stress.shocks.predatory`)."""

    enabled: bool = False
    cut_sectors: list[str] = field(default_factory=list)
    target_sectors: list[str] = field(default_factory=list)
    target_regions: list[str] | None = None
    weekly_hazard: dict[str, float] = field(default_factory=dict)
    duration_median_weeks: float = 26.0
    duration_sigma: float = 0.5
    depth_min: float = 0.2
    depth_max: float = 0.5
    cost_min: float = 0.7
    cost_max: float = 1.1
    closure_hazard: float = 0.05
    closable_share: float = 0.5


@dataclass
class TakeoverConfig:
    """Producers outside China passing under Chinese control (:mod:`stress.shocks.takeover`)."""

    enabled: bool = False
    sectors: list[str] = field(default_factory=list)
    regions: list[str] | None = None
    yearly_hazard: float = 0.01
    diverted: float = 0.5


@dataclass
class ShocksConfig:
    """Every shock of the seed, each switched on with ``shocks.NAME.enabled=true``
    (sourced defaults in ``configs/shocks/default.yaml``)."""

    regime: RegimeConfig = field(default_factory=RegimeConfig)
    tariffs: TariffsConfig = field(default_factory=TariffsConfig)
    licensing: LicensingConfig = field(default_factory=LicensingConfig)
    extraterritorial: ExtraterritorialConfig = field(default_factory=ExtraterritorialConfig)
    halts: HaltsConfig = field(default_factory=HaltsConfig)
    outages: OutagesConfig = field(default_factory=OutagesConfig)
    equipment: EquipmentConfig = field(default_factory=EquipmentConfig)
    diversion: DiversionConfig = field(default_factory=DiversionConfig)
    predatory: PredatoryConfig = field(default_factory=PredatoryConfig)
    takeover: TakeoverConfig = field(default_factory=TakeoverConfig)

    def enabled(self) -> list[str]:
        """Names of the mechanisms switched on."""
        return [f.name for f in fields(self) if getattr(self, f.name).enabled]


@dataclass
class CoalitionConfig:
    """Who takes part in the joint levers (:mod:`stress.policy.levers`): the US, the EU and other
    allies (seed article, "Another Way"); each joins a path's joint levers with its probability
    (diminished trust, "Diminished Trust"). ``us_only``: the USA alone, refusing a share of its
    imports of ``us_only_sectors`` even from allies (the "domestic production only" camp)."""

    members: list[str] = field(default_factory=list)
    join_probability: dict[str, float] = field(default_factory=dict)
    us_only: bool = False
    us_only_import_cut: float = 0.0
    us_only_sectors: list[str] = field(default_factory=list)


@dataclass
class StockpileConfig:
    """A joint public stockpile (``joint_stockpile``): ``days`` of the joined members' use by
    product (Japan's JOGMEC holds ~60 days), released into short buyers' stocks (``trigger``:
    shortage or price), shared by ``sharing`` (pro rata to demand, to contribution, defence
    first), refilled after the crisis; costs its carrying rate on the value held."""

    enabled: bool = False
    days: dict[str, float] = field(default_factory=dict)
    holder: str = "joint"
    sharing: str = "demand"
    contributions: dict[str, Any] = field(default_factory=dict)
    priority_sectors: list[str] = field(default_factory=list)
    trigger: str = "shortage"
    trigger_stock_share: float = 0.5
    trigger_price: float = 1.5
    release_per_day: float = 1.0
    refill_days: float = 180.0
    carrying_rate: float = 0.06


@dataclass
class TariffWallConfig:
    """Joint tariffs on rare-earth products from outside the coalition (``tariff_wall``): the
    Section 232 "tariff wall" of the seed article (25 %, the 2018 steel rate), which also lifts the
    price members' producers get during a predatory price campaign."""

    enabled: bool = False
    rate: float = 0.25
    sectors: list[str] = field(default_factory=list)


@dataclass
class PriceFloorConfig:
    """A minimum price guaranteed to members' producers (``price_floor``): the MP Materials-DoD
    NdPr floor of $110/kg (2.1 x the 2024 price); no closure under predatory pricing while the
    floor is above cost; the treasury pays floor minus market price on the covered output."""

    enabled: bool = False
    level: float = 2.1
    sectors: list[str] = field(default_factory=list)


@dataclass
class ProcurementConfig:
    """Guaranteed government demand (offtake) and unified standards (``procurement``): a share of
    members' REE output bought at a premium (as DoD's 10-year offtake of MP's 10X magnets), which
    shields that share from closure and brings new capacity sooner and larger."""

    enabled: bool = False
    sectors: list[str] = field(default_factory=list)
    offtake_share: float = 0.3
    premium: float = 0.2
    lead_time_factor: float = 0.8
    size_factor: float = 1.25


@dataclass
class DefencePriorityConfig:
    """Rated defence orders served first (``defence_priority``): preferred suppliers in defence
    contracts, as the US Defense Priorities and Allocations System (15 CFR 700) rates orders."""

    enabled: bool = False
    sectors: list[str] = field(default_factory=list)
    admin_cost_per_year: float = 0.0


@dataclass
class AlliedCapacityConfig:
    """New mining, separation and magnet capacity in member regions (``allied_capacity``):
    projects (Iluka Eneabba, US separation, Neo's Narva plant, MP Upstream 60K) with drawn lead
    times stretched by China's equipment controls; public equity share of capex (DoD's ~15 % of
    MP; US stakes in Lithium Americas and Trilogy Metals), annualised at a capital charge."""

    enabled: bool = False
    projects: list[Any] = field(default_factory=list)
    lead_sigma: float = 0.4
    public_share: float = 0.15
    capital_charge: float = 0.1
    equipment_regimes: list[str] = field(default_factory=list)
    stretch_min: float = 1.0
    stretch_max: float = 1.5


@dataclass
class HarmonisedControlsConfig:
    """Members align their export controls (``harmonised_controls``): factors on China's regime
    chain's escalation and de-escalation probabilities (assumptions, documented in
    ``configs/levers/default.yaml``)."""

    enabled: bool = False
    escalation_factor: float = 1.0
    deescalation_factor: float = 1.0
    admin_cost_per_year: float = 0.0


@dataclass
class InvestmentScreeningConfig:
    """Shared screening of Chinese acquisitions of members' producers (``investment_screening``):
    stops most of the takeover hazard (``shocks.takeover``), as FIRB and CFIUS blocked CNMC-Lynas
    (2009) and unwound stakes in Northern Minerals."""

    enabled: bool = False
    effectiveness: float = 0.9
    admin_cost_per_year: float = 0.0


@dataclass
class AntiCoercionConfig:
    """The EU's Anti-Coercion Instrument, used alone (``anti_coercion_instrument``; Regulation
    (EU) 2023/2675): ~180 days after coercion starts, tariffs on Chinese goods and an assumed
    factor on China's approvals of EU licence applications."""

    enabled: bool = False
    region: str = "EU"
    response_days: float = 180.0
    coercive_regimes: list[str] = field(default_factory=list)
    tariff: float = 0.25
    sectors: list[str] = field(default_factory=list)
    approval_factor: float = 1.0
    admin_cost_per_year: float = 0.0


@dataclass
class PolicyConfig:
    """Allied levers, each switched on with ``+policy=NAME`` (``configs/policy/``; sourced
    defaults in ``configs/levers/default.yaml``)."""

    coalition: CoalitionConfig = field(default_factory=CoalitionConfig)
    joint_stockpile: StockpileConfig = field(default_factory=StockpileConfig)
    tariff_wall: TariffWallConfig = field(default_factory=TariffWallConfig)
    price_floor: PriceFloorConfig = field(default_factory=PriceFloorConfig)
    procurement: ProcurementConfig = field(default_factory=ProcurementConfig)
    defence_priority: DefencePriorityConfig = field(default_factory=DefencePriorityConfig)
    allied_capacity: AlliedCapacityConfig = field(default_factory=AlliedCapacityConfig)
    harmonised_controls: HarmonisedControlsConfig = field(default_factory=HarmonisedControlsConfig)
    investment_screening: InvestmentScreeningConfig = field(default_factory=InvestmentScreeningConfig)
    anti_coercion_instrument: AntiCoercionConfig = field(default_factory=AntiCoercionConfig)

    def enabled(self) -> list[str]:
        """Names of the levers switched on."""
        on = [f.name for f in fields(self) if f.name != "coalition" and getattr(self, f.name).enabled]
        return on + (["us_only"] if self.coalition.us_only else [])


@dataclass
class RuntimeConfig:
    """Process-level JAX settings, fixed before any array exists."""

    precision: str = "float64"
    platform: str | None = None
    progress: str = "auto"
    devices: int | None = None  # local devices to spread chunks over (null: all); results do not depend on it
    width: int | None = None  # paths vectorised together (a multiple of 8; null: the platform's default); results do not depend on it


CLUSTER_KINDS = ("none", "local", "slurm", "address")


@dataclass
class ClusterConfig:
    """Where ``run``'s chunks are computed (``cluster=none|local|slurm``; configs/cluster).

    ``kind``: ``none`` (this process, on its local devices), ``local`` (a Dask cluster of
    ``workers`` processes on this machine), ``slurm`` (``workers`` SLURM jobs through
    dask-jobqueue, one JAX process each) or ``address`` (an existing Dask scheduler at
    ``address``). ``chunks_per_task``: consecutive chunks a Dask task computes. The SLURM
    settings are dask-jobqueue's (``cores``, ``memory``, ``walltime``, ``queue``, ``account``,
    ``gpus``: GPUs a job asks for with ``--gres=gpu:N``, ``job_extra``: more ``#SBATCH`` lines,
    ``prologue``: shell lines run before each worker, e.g. ``module load cuda``). Results do not
    depend on any of it.
    """

    kind: str = "none"
    workers: int = 2
    chunks_per_task: int = 1
    address: str | None = None
    cores: int = 4
    memory: str = "16GB"
    walltime: str = "02:00:00"
    queue: str | None = None
    account: str | None = None
    gpus: int = 0
    job_extra: list[str] = field(default_factory=list)
    prologue: list[str] = field(default_factory=list)


@dataclass
class SimulateConfig:
    """Settings of ``python -m stress simulate`` (one deterministic path)."""

    path_id: int = 0


@dataclass
class CompareConfig:
    """Settings of ``python -m stress compare`` (the policies themselves are ``policies``).

    ``bootstrap``: paired bootstrap resamples for the standard errors of the expected
    shortfall and its change. ``regions``: the regions whose most exposed industry is shown in
    the summary table (null: the three with the highest reference halt probability).
    """

    bootstrap: int = 200
    regions: list[str] | None = None


POLICY_DIR = Path(__file__).resolve().parents[1] / "configs" / "policy"
"""The ``policy`` config group: one ``# @package _global_`` file per allied lever."""


def policy_names() -> list[str]:
    """The options of the ``policy`` config group (``none`` is the reference: no lever)."""
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def policy_levers(entry: str) -> list[str]:
    """The options named by one entry of ``policies``: ``a`` or ``a+b`` (levers together)."""
    return [part.strip() for part in str(entry).split("+")]


def check_policies(policies: Any, allowed: list[str] | None = None) -> list[str]:
    """Validate ``policies``: a non-empty list of distinct entries, each a policy option name or
    several joined with ``+``; return it as a list of strings."""
    allowed = policy_names() if allowed is None else allowed
    what = (
        "a non-empty list of distinct policy options from configs/policy (" + ", ".join(allowed) + "), "
        "or several joined with + (e.g. joint_stockpile+price_floor); the first is the reference, normally none"
    )
    if isinstance(policies, str) or not isinstance(policies, list | tuple) or not policies:
        raise InputError("policies", policies, what)
    seen: dict[frozenset[str], str] = {}
    for entry in policies:
        if not isinstance(entry, str):
            raise InputError("policies", entry, what)
        levers = policy_levers(entry)
        for lever in levers:
            if lever not in allowed:
                raise InputError("policies", entry if len(levers) == 1 else f"{entry} ({lever})", what)
        if len(levers) > 1 and ("none" in levers or len(set(levers)) < len(levers)):
            raise InputError("policies", entry, "distinct levers other than none joined with + (none stands alone: no lever)")
        key = frozenset(levers)
        if key in seen:
            raise InputError("policies", list(policies), f"{what} ({entry!r} repeats {seen[key]!r})")
        seen[key] = entry
    return [str(e) for e in policies]


@dataclass
class Config:
    """The whole run configuration."""

    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    shock: ShockConfig = field(default_factory=ShockConfig)
    scenario: ScenarioConfig | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    shocks: ShocksConfig = field(default_factory=ShocksConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    policies: list[str] = field(default_factory=lambda: ["none"])  # python -m stress compare: the first is the reference
    compare: CompareConfig = field(default_factory=CompareConfig)
    report: bool = False  # run / compare: also write report.html (python -m stress report) next to the results
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    resume: str | None = None  # run: continue the run folder RUN_DIR from its chunk store (its settings are reused)


def register() -> None:
    """Store the root schema in Hydra's ConfigStore as ``base_config``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="base_config", node=Config)


def as_list(field_: str, value: Any) -> list[str]:
    """A name or a list of names as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(field_, value, "a name or a list of names")


def _nonneg_int(field_: str, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise InputError(field_, value, "a whole number of days >= 0")


def _day_in_horizon(field_: str, value: int, horizon: int) -> None:
    """A start day must fall inside the simulated days, or the event is never felt."""
    if value >= horizon:
        raise InputError(field_, value, f"a day in [0, {horizon}), i.e. before model.horizon_days={horizon}")


def _id_range(field_: str, value: int, lo: int) -> None:
    if not isinstance(value, int) or not lo <= value <= MAX_PATH_ID:
        raise InputError(field_, value, f"a whole number in [{lo}, 2**31 - 1 = {MAX_PATH_ID}]")


def _unused(group: str, cfg: Any, default: Any, keep: tuple[str, ...], why: str) -> None:
    """Refuse a setting that differs from its default where ``cfg``'s kind ignores it."""
    for f in fields(default):
        value = getattr(cfg, f.name)
        if f.name not in keep and value != getattr(default, f.name):
            raise InputError(f"{group}.{f.name}", value, f"unset: {why}")


def validate(cfg: Config) -> Config:
    """Check every value that the schema's types cannot; return ``cfg`` unchanged.

    Names (regions, sectors) are checked later against the loaded world, and the folder in
    ``world.path`` when the world is loaded.
    """
    w = cfg.world
    if w.name not in WORLD_KINDS:
        raise InputError("world.name", w.name, "one of " + ", ".join(WORLD_KINDS))
    if w.name == "pymrio_dir" and not w.path:
        raise InputError("world.path", w.path, "a folder holding a table saved by pymrio")
    if w.name == "pymrio_test" and w.path is not None:
        raise InputError(
            "world.path", w.path, "null: pymrio_test is pymrio's bundled table (world=pymrio_dir reads a table saved by pymrio)"
        )
    if w.path is not None and not str(w.path).strip():
        raise InputError("world.path", w.path, "a folder, or null")

    m = cfg.model
    if m.name != "ario":
        raise InputError("model.name", m.name, "ario")
    if not isinstance(m.horizon_days, int) or m.horizon_days < 1:
        raise InputError("model.horizon_days", m.horizon_days, "a whole number of days >= 1")
    check_range("model.inventory_days", m.inventory_days, lo=1.0, lo_open=True, finite=True)
    check_range("model.psi", m.psi, lo=0.0, hi=1.0)
    if m.psi * m.inventory_days < 1.0:
        # use <= S / (psi s): below one day a stock can fund more than it holds (ARIO.md §7);
        # the tables raise only durations <= 1 day to 2, so the model's own days count here
        raise InputError(
            "model.psi", m.psi, f"psi x inventory_days >= 1 (here {m.psi:g} x {m.inventory_days:g}): otherwise stocks go negative"
        )
    check_range("model.inventory_tau", m.inventory_tau, lo=0.0, lo_open=True, finite=True)
    check_range("model.alpha_base", m.alpha_base, lo=1.0, finite=True)
    check_range("model.alpha_max", m.alpha_max, lo=m.alpha_base, finite=True)
    check_range("model.alpha_tau", m.alpha_tau, lo=0.0, lo_open=True, finite=True)
    check_range("model.year_to_day", m.year_to_day, lo=0.0, lo_open=True, finite=True)
    if m.order_type not in ("alt", "noalt"):
        raise InputError("model.order_type", m.order_type, "alt or noalt")
    if m.kernel not in ("compact", "plain"):
        raise InputError("model.kernel", m.kernel, "compact (orders as factors of Z0) or plain (the reference (n, n) form)")
    check_range("model.demand_elasticity", m.demand_elasticity, lo=0.0, finite=True)
    check_range("model.substitution_elasticity", m.substitution_elasticity, lo=0.0, finite=True)
    if m.horizon_days > 3650:
        raise InputError("model.horizon_days", m.horizon_days, "a whole number of days in [1, 3650] (ten years)")

    s = cfg.sampler
    _id_range("sampler.n_paths", s.n_paths, 1)
    _id_range("sampler.chunk_size", s.chunk_size, 1)
    if not isinstance(s.seed, int) or not 0 <= s.seed < 2**63:
        raise InputError("sampler.seed", s.seed, "a whole number in [0, 2**63)")

    sh = cfg.shock
    if sh.kind not in SHOCK_KINDS:
        raise InputError("shock.kind", sh.kind, "one of " + ", ".join(SHOCK_KINDS))
    if sh.kind == "capacity_loss":
        if not as_list("shock.region", sh.region):
            raise InputError("shock.region", sh.region, "one or more region names")
        if not as_list("shock.sector", sh.sector):
            raise InputError("shock.sector", sh.sector, "one or more sector names")
        if not 0.0 < sh.fraction <= 1.0:
            raise InputError("shock.fraction", sh.fraction, "a share of capacity lost in (0, 1] (shock=none for no capacity loss)")
        _nonneg_int("shock.start_day", sh.start_day)
        _nonneg_int("shock.duration_days", sh.duration_days)
        _nonneg_int("shock.recovery_days", sh.recovery_days)
        _day_in_horizon("shock.start_day", sh.start_day, m.horizon_days)
        if sh.duration_days + sh.recovery_days == 0:
            raise InputError(
                "shock.duration_days",
                sh.duration_days,
                "a whole number of days >= 1 when shock.recovery_days=0 (a loss that lasts no day does nothing)",
            )
    else:
        _unused("shock", sh, ShockConfig(), ("kind",), f"shock.kind={sh.kind} ignores it (shock=capacity_loss applies a capacity loss)")

    sc = cfg.scenario
    if sc is not None:
        if sc.kind not in SCENARIO_KINDS:
            raise InputError("scenario.kind", sc.kind, "one of " + ", ".join(SCENARIO_KINDS))
        _nonneg_int("scenario.start_day", sc.start_day)
        if sc.kind == "export_cutoff":
            _day_in_horizon("scenario.start_day", sc.start_day, m.horizon_days)
            if not sc.products:
                raise InputError("scenario.products", sc.products, "one or more sector names")
            if sc.destinations is not None and not sc.destinations:
                raise InputError("scenario.destinations", sc.destinations, "one or more region names, or null for every region but the exporter")
            check_range("scenario.cutoff.median_days", sc.cutoff.median_days, lo=0.0)  # inf: the cut-off never ends
            check_range("scenario.cutoff.sigma", sc.cutoff.sigma, lo=0.0, finite=True)
            check_range("scenario.licence.approval_a", sc.licence.approval_a, lo=0.0, lo_open=True, finite=True)
            check_range("scenario.licence.approval_b", sc.licence.approval_b, lo=0.0, lo_open=True, finite=True)
            check_range("scenario.licence.review_days", sc.licence.review_days, lo=0.0)  # inf: never approved
            if not 1 <= sc.licence.applications <= 1000:
                raise InputError("scenario.licence.applications", sc.licence.applications, "a whole number in [1, 1000]")
        else:
            why = f"scenario.kind={sc.kind} ignores it (+scenario=full_cutoff is an export cut-off)"
            _unused("scenario", sc, ScenarioConfig(), ("name", "description", "kind", "start_date"), why)

    mt = cfg.metrics
    check_range("metrics.halt_threshold", mt.halt_threshold, lo=0.0, hi=1.0)
    if not mt.quantiles:
        raise InputError("metrics.quantiles", mt.quantiles, "a non-empty list of probabilities")
    for q in mt.quantiles:
        check_range("metrics.quantiles", q, lo=0.0, hi=1.0)
    if len(set(mt.quantiles)) < len(mt.quantiles):
        twice = next(q for i, q in enumerate(mt.quantiles) if q in mt.quantiles[:i])
        raise InputError("metrics.quantiles", mt.quantiles, f"distinct probabilities in [0, 1] ({twice} is listed twice)")
    if not (isinstance(mt.relative_accuracy, int | float) and 1e-4 <= mt.relative_accuracy <= 0.1):
        raise InputError("metrics.relative_accuracy", mt.relative_accuracy, "a number in [0.0001, 0.1] (0.005: quantiles within 0.5 %)")
    if not (isinstance(mt.attribution_paths, int) and 0 <= mt.attribution_paths <= 10_000_000):
        raise InputError("metrics.attribution_paths", mt.attribution_paths, "a whole number in [0, 10000000]")
    if not isinstance(mt.top_n, int) or not 1 <= mt.top_n <= 10_000:
        raise InputError("metrics.top_n", mt.top_n, "a whole number in [1, 10000]")
    if cfg.runtime.width is not None:
        from stress.engine import resolve_width

        resolve_width(cfg.runtime.width, "cpu")
    if cfg.runtime.precision not in ("float64", "float32"):
        raise InputError("runtime.precision", cfg.runtime.precision, "float64 or float32")
    if cfg.runtime.progress not in ("auto", "bar", "log", "none"):
        raise InputError("runtime.progress", cfg.runtime.progress, "auto, bar, log or none")
    if cfg.runtime.platform not in (None, "cpu", "gpu", "cuda", "tpu"):
        raise InputError("runtime.platform", cfg.runtime.platform, "null, cpu, gpu, cuda or tpu")
    if cfg.runtime.devices is not None and (isinstance(cfg.runtime.devices, bool) or cfg.runtime.devices < 1):
        raise InputError("runtime.devices", cfg.runtime.devices, "null (every local device) or a whole number of devices >= 1")
    cl = cfg.cluster
    if cl.kind not in CLUSTER_KINDS:
        raise InputError("cluster.kind", cl.kind, ", ".join(CLUSTER_KINDS) + " (choose with cluster=local or cluster=slurm)")
    for name in ("workers", "chunks_per_task", "cores"):
        if int(getattr(cl, name)) < 1:
            raise InputError(f"cluster.{name}", getattr(cl, name), "a whole number >= 1")
    if cl.gpus < 0:
        raise InputError("cluster.gpus", cl.gpus, "a whole number >= 0")
    # settings the chosen kind would ignore
    used = {"none": (), "local": ("workers", "chunks_per_task"), "address": ("address", "chunks_per_task")}.get(
        cl.kind, tuple(f.name for f in fields(ClusterConfig) if f.name != "address")
    )
    for f in fields(ClusterConfig):
        if f.name == "kind" or f.name in used:
            continue
        value, default = getattr(cl, f.name), getattr(ClusterConfig(), f.name)
        if value != default:
            where = "this run computes in one process" if cl.kind == "none" else f"cluster.kind={cl.kind} does not use it"
            raise InputError(f"cluster.{f.name}", value, f"a setting of another cluster kind (local: workers, chunks_per_task; slurm: all but address; address: address, chunks_per_task); {where}")
    if cl.kind == "address" and not cl.address:
        raise InputError("cluster.address", cl.address, "the address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786) with cluster.kind=address")
    if cfg.resume is not None and not str(cfg.resume).strip():
        raise InputError("resume", cfg.resume, "null or the folder of a run to continue")
    _id_range("simulate.path_id", cfg.simulate.path_id, 0)
    check_range("metrics.constraint_threshold", mt.constraint_threshold, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if sc is not None:
        if sc.controlled_share is not None:
            check_range("scenario.controlled_share", sc.controlled_share, lo=0.0, hi=1.0, lo_open=True)
        if sc.frequency_per_year is not None:
            check_range("scenario.frequency_per_year", sc.frequency_per_year, lo=0.0, hi=365.0, lo_open=True)
        if sc.start_date is not None:
            import datetime

            try:
                datetime.date.fromisoformat(str(sc.start_date))
            except ValueError:
                raise InputError("scenario.start_date", sc.start_date, "an ISO date such as 2025-04-04, or null") from None
    c = cfg.calibration
    for name in c.models:
        if name not in CALIBRATION_MODELS:
            raise InputError("calibration.models", name, "one or more of " + ", ".join(CALIBRATION_MODELS))
    if not c.models:
        raise InputError("calibration.models", c.models, "one or more of " + ", ".join(CALIBRATION_MODELS))
    if len(set(c.models)) < len(c.models):
        raise InputError("calibration.models", c.models, "distinct model names")
    if c.chains < 2 and not c.force:
        raise InputError("calibration.chains", c.chains, "2 or more (split R-hat compares chains), or 1 with calibration.force=true")
    for key, lo in (("chains", 1), ("warmup", 1), ("samples", 10), ("thin", 1)):
        v = getattr(c, key)
        if not isinstance(v, int) or not lo <= v <= 100_000:
            raise InputError(f"calibration.{key}", v, f"a whole number in [{lo}, 100000]")
    if not 0 <= c.seed < 2**31:
        raise InputError("calibration.seed", c.seed, "a whole number in [0, 2**31)")
    check_policies(cfg.policies)
    if not isinstance(cfg.compare.bootstrap, int) or not 2 <= cfg.compare.bootstrap <= 100_000:
        raise InputError("compare.bootstrap", cfg.compare.bootstrap, "a whole number of bootstrap resamples in [2, 100000]")
    return cfg
