"""NumPyro models of the 2025-26 rare-earth episodes, one per kind of engine parameter.

Each model is a plain NumPyro function of observation arrays (built from ``data/*.csv`` by
:mod:`stress.calibration.inputs`). Passing ``None`` for an observation samples it instead, so the
same function gives the prior predictive (no posterior), the posterior predictive (with one),
and predictions for held-out rows. Days count from the 4 April 2025 controls (day 0).

The parameters the engine reads keep these exact names (``store.ENGINE_VARIABLES``):
``licence_weekly_p`` (destination; relative hazards between destinations), ``licence_kappa``
and ``licence_review_days`` (the backtest's licence-count predictions), ``export_weekly_p``,
``export_delay_days`` (the volume release of licences), ``export_controlled_share`` and
``export_controlled_share_usa``, ``inventory_cover_days`` (region), ``psi``,
``cutoff_median_days`` and ``cutoff_sigma``. Every other site is prefixed with its model's name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import expit, log_ndtr
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes

DESTINATIONS = ("USA", "EU", "JPN", "KOR", "ALLY", "ROW")
REGIONS = ("CHN", "USA", "EU", "JPN", "KOR", "ALLY", "ROW")
COORDS = {"destination": DESTINATIONS, "region": REGIONS}
# Latent sites with a labelled trailing dimension (all others are scalars per draw).
DIMS = {
    "licence_z": "destination",
    "licence_weekly_p": "destination",
    "inventory_z": "region",
    "inventory_stock_days": "region",
    "inventory_transit_days": "region",
    "inventory_cover_days": "region",
}

# Observation rows NOT used in the fit; the backtest predicts them (row ids of data/*.csv).
HELD_OUT: dict[str, list[str]] = {
    "licence": ["lic_eu_clepa_jun", "lic_eu_clepa_jul"],
    "export_shock": ["exp_world_2025-07", "exp_usa_2025-07"],
    "inventory": [],
    "regime": ["tl_japan_military_ban", "tl_japan_entities"],
}

REVIEW_SMOOTH_DAYS = 2.0  # width of the softplus that rounds the kink of max(0, t - review)


def approval_by(p: jax.Array, day: jax.Array, review: jax.Array) -> jax.Array:
    """Share of applications approved by ``day``: ``1 - (1 - p) ** (max(0, day - review) / 7)``.

    The continuous form of the engine's weekly geometric decisions after a review delay. The
    ``max`` is a softplus of width ``REVIEW_SMOOTH_DAYS`` (at most 1.4 days different), so the
    gradient in ``review`` never vanishes. Shapes: ``(n,), (n,), () -> (n,)``.
    """
    waited = REVIEW_SMOOTH_DAYS * jax.nn.softplus((day - review) / REVIEW_SMOOTH_DAYS)
    return -jnp.expm1(waited / 7.0 * jnp.log1p(-p))


def licence(dest: jax.Array, day: jax.Array, trials: jax.Array, licence_approved: jax.Array | None = None) -> None:
    """Licence approvals by destination, with pending applications right-censored.

    Assumes every application to destination ``d`` waits ``review_days`` (shared), then is
    approved in each week with probability ``p_d``, so the share approved by day ``t`` is
    ``F_d(t) = 1 - (1 - p_d) ** (max(0, t - review) / 7)`` (:func:`approval_by`). A pending
    application counts as not yet approved, not as refused. Applications are treated as filed on
    day 0: filings spread over time make the fitted ``p_d`` too low (a known bias).

    Likelihood: ``approved ~ BetaBinomial(trials, F kappa, (1 - F) kappa)``. ``trials`` is the
    number of applications where counts are reported (``licences.csv`` rows with ``applications``
    and ``approved``); for rows with only a share it is an effective sample size by quality
    (:data:`stress.calibration.inputs.N_EFF`) and ``approved = round(share * n_eff)``. The
    concentration ``kappa`` absorbs disagreement between observers (e.g. the EU Chamber's 13.5 %
    at day 165 against the Commission's ~52 % at day 215).

    Priors (weakly informative):

    - ``logit p_d = licence_mu + licence_tau * licence_z[d]``, ``licence_z ~ N(0, 1)`` (non-centred
      partial pooling); ``licence_mu ~ N(-3, 1.5)`` puts the median weekly approval near 5 %
      (a quarter approved within ~6 weeks of review) with 90 % of the mass in 0.4-37 %;
      ``licence_tau ~ HalfNormal(1)``.
    - ``licence_review_days ~ LogNormal(log 40, 0.4)`` (90 %: 21-77 days): MOFCOM's nominal 45
      working days (~63 calendar days) and first approvals around day 50-59 (Korea in May, US
      auto suppliers on 2 June), with room for faster "green channel" cases.
    - ``licence_kappa ~ Gamma(2, 0.1)`` (mean 20).

    Data: ``licences.csv`` rows for USA (Dexter), EU (EU Chamber 16 Sep, Commission 5 Nov),
    KOR (May) and ROW (India 10 Jun and 30 Oct). HELD OUT (``HELD_OUT["licence"]``): CLEPA's EU
    shares at day 61 (~25 %) and day 90 (~60 %), which the backtest predicts. JPN and ALLY have
    no rows: their ``licence_z`` is never informed by data, so their ``licence_weekly_p`` draws
    are draws for a new destination from the pooled distribution (``z ~ N(0, 1)`` under the
    posterior of ``mu`` and ``tau``).

    Shapes: ``dest, day, trials: (n,)`` (``dest`` indexes :data:`DESTINATIONS`).
    """
    mu = numpyro.sample("licence_mu", dist.Normal(-3.0, 1.5))
    tau = numpyro.sample("licence_tau", dist.HalfNormal(1.0))
    with numpyro.plate("destination", len(DESTINATIONS)):
        z = numpyro.sample("licence_z", dist.Normal(0.0, 1.0))
    p = numpyro.deterministic("licence_weekly_p", expit(mu + tau * z))
    review = numpyro.sample("licence_review_days", dist.LogNormal(jnp.log(40.0), 0.4))
    kappa = numpyro.sample("licence_kappa", dist.Gamma(2.0, 0.1))
    f = jnp.clip(approval_by(p[dest], day, review), 1e-6, 1.0 - 1e-6)
    with numpyro.plate("licence_row", day.shape[0]):
        numpyro.sample("licence_approved", dist.BetaBinomial(f * kappa, (1.0 - f) * kappa, trials), obs=licence_approved)


def licence_naive(dest: jax.Array, trials: jax.Array, licence_approved: jax.Array | None = None) -> None:
    """The licence data read as final outcomes: pending counted as refused, no time.

    ``approved ~ BetaBinomial(trials, q_d kappa, (1 - q_d) kappa)`` with ``logit q_d =
    naive_mu + naive_tau * naive_z[d]`` (priors ``N(-1, 1.5)``, ``HalfNormal(1)``, ``N(0, 1)``)
    and ``naive_kappa ~ Gamma(2, 0.1)``. Only for the censoring test: it estimates the eventual
    approval probability by ``approved / applications``, which a censored model must exceed
    whenever applications are still pending.
    """
    mu = numpyro.sample("naive_mu", dist.Normal(-1.0, 1.5))
    tau = numpyro.sample("naive_tau", dist.HalfNormal(1.0))
    with numpyro.plate("destination", len(DESTINATIONS)):
        z = numpyro.sample("naive_z", dist.Normal(0.0, 1.0))
    q = numpyro.deterministic("naive_approval_p", expit(mu + tau * z))
    kappa = numpyro.sample("naive_kappa", dist.Gamma(2.0, 0.1))
    qd = jnp.clip(q[dest], 1e-6, 1.0 - 1e-6)
    with numpyro.plate("licence_row", trials.shape[0]):
        numpyro.sample("licence_approved", dist.BetaBinomial(qd * kappa, (1.0 - qd) * kappa, trials), obs=licence_approved)


def blocked_share(start: jax.Array, length: jax.Array, onset: jax.Array, delay: jax.Array, rate: jax.Array) -> jax.Array:
    """Month average of the controlled flow that is blocked (not yet licensed).

    The flow is blocked from ``onset``; licences then release it as ``exp(-rate (t - delay))``
    for ``t > delay``. The month is ``[start, start + length)``; the average is exact (closed
    form), so it is smooth in every parameter. Shapes: ``(n,), (n,), (), (), () -> (n,)``.
    """

    def cum(x: jax.Array) -> jax.Array:  # integral of exp(-rate * max(0, t - delay)) from 0 to x
        return jnp.minimum(x, delay) - jnp.expm1(-rate * jnp.maximum(x - delay, 0.0)) / rate

    end = start + length
    c = jnp.clip(onset, start, end)
    return (cum(end) - cum(c)) / length


def export_shock(dest: jax.Array, start: jax.Array, length: jax.Array, export_log_ratio: jax.Array | None = None) -> None:
    """China's monthly magnet exports as a ratio to the same month of 2024.

    Assumes ``ratio_m = (1 - share_d * B(m)) * exp(eps)``, ``eps ~ N(0, export_sigma)``, where
    ``B(m)`` (:func:`blocked_share`) is the month average of the controlled flow not yet licensed:
    blocked from ``export_onset_days`` (shipments already declared still cleared customs in
    early April), then released by a volume-weighted approval curve ``1 - (1 - p) ** ((t - delay)
    / 7)`` after ``export_delay_days``. Growth against 2024 and front-loading are not modelled
    (they sit in the noise).

    Priors: ``export_controlled_share ~ Beta(5, 2)`` (mean 0.71; favours most: the April rule
    covered Dy/Tb/Sm-bearing magnets and slowed the rest, which share one customs code), and
    the same for ``export_controlled_share_usa``; ``export_onset_days ~ LogNormal(log 10, 0.5)``;
    ``export_delay_days ~ LogNormal(log 40, 0.4)`` (as the licence review); ``export_weekly_p ~
    Beta(1.5, 6)`` (mean 0.2: large exporters were licensed first, so volume is released faster
    than applications); ``export_sigma ~ LogNormal(log 0.12, 0.3)`` (monthly customs noise and
    derived 2024 bases: 90 % in 0.07-0.2; month-to-month swings in H2 2025 were 5-10 %, and a
    prior with mass near 0 lets the four fitted months be matched exactly, a funnel NUTS cannot
    cross).

    Data: ``magnet_exports.csv`` rows WORLD Apr, May, Jun 2025 and USA May 2025 (the months with
    a reported or derived 2024 value). HELD OUT: WORLD and USA July 2025 (the recovery month).

    Shapes: ``dest`` (0 world, 1 USA), ``start`` (first day of the month), ``length``: ``(n,)``.
    """
    share = numpyro.sample("export_controlled_share", dist.Beta(5.0, 2.0))
    share_usa = numpyro.sample("export_controlled_share_usa", dist.Beta(5.0, 2.0))
    onset = numpyro.sample("export_onset_days", dist.LogNormal(jnp.log(10.0), 0.5))
    delay = numpyro.sample("export_delay_days", dist.LogNormal(jnp.log(40.0), 0.4))
    p = numpyro.sample("export_weekly_p", dist.Beta(1.5, 6.0))
    sigma = numpyro.sample("export_sigma", dist.LogNormal(jnp.log(0.12), 0.3))
    blocked = blocked_share(start, length, onset, delay, -jnp.log1p(-p) / 7.0)
    shares = jnp.stack([share, share_usa])[dest]
    with numpyro.plate("export_row", start.shape[0]):
        numpyro.sample("export_log_ratio", dist.Normal(jnp.log1p(-shares * blocked), sigma), obs=export_log_ratio)


class RangeLogNormal(dist.Distribution):
    """``log X ~ Normal(loc, scale)`` observed as a stated range: values are rows ``(low, high)``.

    A two-sided range is read as a noisy observation of ``log X`` at the range's log-midpoint,
    whose error adds the spread of a value uniform (in logs) over the range, ``log(high / low)**2
    / 12``, to ``scale**2``. A one-sided range (``low = 0`` or ``high = inf``) is censored:
    ``log P(X <= high)`` or ``log P(X >= low)``. Unlike the exact interval probability, this is
    smooth in ``scale`` (no flat top with cliffs), which NUTS needs. ``sample`` returns ``(x, x)``
    (a point range), so predictive draws have the observations' shape.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.independent(constraints.real, 1)

    def __init__(self, loc: jax.Array, scale: jax.Array, *, validate_args: bool | None = None):
        self.loc, self.scale = promote_shapes(loc, scale)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, event_shape=(2,), validate_args=validate_args)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        x = jnp.exp(self.loc + self.scale * jr.normal(key, sample_shape + self.batch_shape))
        return jnp.stack([x, x], axis=-1)

    def log_prob(self, value: jax.Array) -> jax.Array:
        lo, hi = value[..., 0], value[..., 1]
        has_lo, has_hi = lo > 0, jnp.isfinite(hi)
        log_lo = jnp.log(jnp.where(has_lo, lo, 1.0))
        log_hi = jnp.log(jnp.where(has_hi, hi, 1.0))
        both = has_lo & has_hi
        s2 = jnp.square(self.scale) + jnp.where(both, jnp.square(log_hi - log_lo) / 12.0, 0.0)
        two_sided = dist.Normal(self.loc, jnp.sqrt(s2)).log_prob(0.5 * (log_lo + log_hi))
        below = log_ndtr((log_hi - self.loc) / self.scale)
        above = log_ndtr((self.loc - log_lo) / self.scale)
        return jnp.where(both, two_sided, jnp.where(has_hi, below, jnp.where(has_lo, above, 0.0)))


def inventory(
    stock_region: jax.Array,
    lag_region: jax.Array,
    lag_china_share: jax.Array,
    transit_low: jax.Array,
    transit_high: jax.Array,
    inventory_stock_statement: jax.Array | None = None,
    inventory_halt_lag: jax.Array | None = None,
) -> None:
    """Cover of REE inputs by buyer region, and the ARIO ``psi`` rule fitted to halt lags.

    Assumes each region ``r`` holds ``inventory_stock_days[r]`` days of use in stock, plus
    ``inventory_transit_days[r]`` on the way from China (``Uniform(low, high)`` from the
    ``transit`` rows of ``inventory_cover.csv``: assumptions, not data). The engine's cover is
    ``inventory_cover_days = stock + transit``. In ARIO an industry's output is first cut when its
    stock falls below ``psi`` times its target. The April 2025 controls blocked only the share
    ``b`` of the buyer's supply (the rest kept arriving), so the stock fell at the rate ``b`` of
    use and the first cut came after ``(1 - psi) * cover / b`` days, which is matched to the
    observed lags to the first halts. ``b = c * k_r``: ``c`` is the controlled share of China's
    exports, ``inventory_blocked_share`` (``inventory_blocked_share_usa`` for the USA) with Beta
    priors equal in mean and spread to the export_shock model's posterior of
    ``export_controlled_share`` (0.74 +- 0.04) and ``export_controlled_share_usa`` (0.94 +- 0.02):
    sequential updating, so the two fits agree; ``k_r`` (``lag_china_share``, data) is China's
    share of region r's automotive magnet purchases in the REE world (USA 0.69, EU 0.77, ROW
    0.80), the engine's own input structure. Suzuki's halt (JPN, where k = 0.17) is not fitted:
    see ``stress.calibration.inputs``.

    Likelihood: ``company`` cover statements are stated ranges of the stock, with log-normal
    statement error ``inventory_statement_sigma``; lags are stated ranges of ``(1 - psi) *
    cover`` with error ``inventory_lag_sigma`` (:class:`RangeLogNormal`: two-sided ranges as noisy
    log-midpoints, one-sided ones censored; an exact day is widened by half a day either side).

    Priors: ``log stock[r] = inventory_stock_mu + inventory_stock_tau * inventory_z[r]`` with
    ``inventory_stock_mu ~ N(log 45, 0.5)`` (90 %: 20-100 days, from just-in-time weeks to a
    quarter), ``inventory_stock_tau ~ HalfNormal(0.5)``, ``inventory_z ~ N(0, 1)``: regions
    without statements (CHN, JPN, KOR, ALLY) are pooled, i.e. draws for a new region, JPN
    informed only through its halt lag. ``psi ~ Beta(2, 2)``: symmetric and zero at 0 and 1
    (where the lag would be the whole cover, or nothing), and no weight on BoARIO's default 0.8,
    which is a convention, not a measurement. ``inventory_statement_sigma ~ LogNormal(log 0.3,
    0.5)`` (firm statements differ by tens of %); ``inventory_lag_sigma ~ LogNormal(log 0.2,
    0.3)`` (90 %: 0.12-0.33; a plant halt is a noisy marker of depletion: plant stocks differ and
    some licensed supply kept arriving; with more mass near 0 the free JPN cover fits Suzuki's
    lag exactly and opens a funnel that NUTS cannot cross).

    Data: ``inventory_cover.csv`` company rows for EU, USA and ROW (India) except the weak
    ``cov_auto_jit`` and ``cov_jpn_defence`` (a 2026 statement); national stockpiles (JOGMEC,
    Korea) are a policy lever, not buyer cover, and are not used. ``halts.csv`` first-halt rows:
    Ford (USA, 46-56 d), EU supplier lines (<= 61 d), Bajaj (ROW, 88-118 d).
    Nothing is held out: the lags are what identifies ``psi``, so a backtest that compares
    simulated lags to these lags is an in-sample check, NOT a held-out test.

    Shapes: ``stock_region (s,)``, ``lag_region (h,)``, ``transit_low/high (7,)``;
    observations ``(s, 2)`` and ``(h, 2)`` as ``(low, high)`` rows in days.
    """
    mu = numpyro.sample("inventory_stock_mu", dist.Normal(jnp.log(45.0), 0.5))
    tau = numpyro.sample("inventory_stock_tau", dist.HalfNormal(0.5))
    with numpyro.plate("region", len(REGIONS)):
        z = numpyro.sample("inventory_z", dist.Normal(0.0, 1.0))
        transit = numpyro.sample("inventory_transit_days", dist.Uniform(transit_low, transit_high))
    stock = numpyro.deterministic("inventory_stock_days", jnp.exp(mu + tau * z))
    cover = numpyro.deterministic("inventory_cover_days", stock + transit)
    psi = numpyro.sample("psi", dist.Beta(2.0, 2.0))
    # Beta(m k, (1 - m) k) with k = m (1 - m) / sd^2 - 1 from the export posterior (docstring).
    blocked = numpyro.sample("inventory_blocked_share", dist.Beta(103.0, 36.0))
    blocked_usa = numpyro.sample("inventory_blocked_share_usa", dist.Beta(182.0, 12.0))
    s_stmt = numpyro.sample("inventory_statement_sigma", dist.LogNormal(jnp.log(0.3), 0.5))
    s_lag = numpyro.sample("inventory_lag_sigma", dist.LogNormal(jnp.log(0.2), 0.3))
    if stock_region.shape[0]:
        with numpyro.plate("inventory_statement_row", stock_region.shape[0]):
            loc = jnp.log(stock[stock_region])
            numpyro.sample("inventory_stock_statement", RangeLogNormal(loc, s_stmt), obs=inventory_stock_statement)
    if lag_region.shape[0]:
        with numpyro.plate("inventory_lag_row", lag_region.shape[0]):
            b = jnp.where(lag_region == REGIONS.index("USA"), blocked_usa, blocked) * lag_china_share
            loc = jnp.log1p(-psi) + jnp.log(cover[lag_region]) - jnp.log(b)
            numpyro.sample("inventory_halt_lag", RangeLogNormal(loc, s_lag), obs=inventory_halt_lag)


def regime(
    escalation_open_years: jax.Array | None = None,
    truce_open_years: jax.Array | None = None,
    window_years: jax.Array | None = None,
    regime_escalation_gap_years: jax.Array | None = None,
    regime_truce_years: jax.Array | None = None,
    regime_stoppage_days: jax.Array | None = None,
    regime_escalation_count: jax.Array | None = None,
    *,
    n_gaps: int = 0,
    n_truces: int = 0,
    n_stoppages: int = 0,
) -> None:
    """Escalation and truce hazards from the timeline, and the duration of a full stoppage.

    Assumes escalations (new Chinese export controls) arrive as a Poisson process with rate
    ``regime_escalation_rate`` per year: the gaps between successive escalations are
    exponential, and the time from the last one to the end of the fit window is censored
    (``escalation_open_years``). Each escalation is suspended at rate ``regime_truce_rate`` per
    year: observed times to suspension are exponential, escalations still in force at the end of
    the window are censored (their total exposure is ``truce_open_years``). A full stoppage lasts
    ``LogNormal(log cutoff_median_days, cutoff_sigma)`` days.

    Priors: ``regime_escalation_rate ~ Gamma(2, 1)`` (mean 2 per year; 90 %: 0.36-4.7);
    ``regime_truce_rate ~ Gamma(1, 1)`` (mean one suspension per year in force);
    ``cutoff_median_days ~ LogNormal(log 60, 0.75)`` (90 %: 17-205 days: weeks to half a year);
    ``cutoff_sigma ~ LogNormal(log 0.5, 0.5)`` (durations vary by a factor ~1.6 either way).

    Data: ``timeline.csv`` escalations from ``tl_gage_2023`` (3 Jul 2023, the start of the
    current export-control series; the 2010 halt is outside the window) to the end of the fit
    window, 10 Nov 2025, and the suspensions that refer to them (Ann. 70, Ann. 72);
    ``stoppages.csv`` durations (all four rows). HELD OUT: the 2026 escalations against Japan
    (``tl_japan_military_ban``, ``tl_japan_entities``): their count in 10 Nov 2025 to 15 Apr
    2026 is predicted as ``Poisson(rate * window_years)`` (``regime_escalation_count``).

    Every block is skipped when its inputs are ``None`` and its count is 0.
    """
    rate_e = numpyro.sample("regime_escalation_rate", dist.Gamma(2.0, 1.0))
    rate_t = numpyro.sample("regime_truce_rate", dist.Gamma(1.0, 1.0))
    median = numpyro.sample("cutoff_median_days", dist.LogNormal(jnp.log(60.0), 0.75))
    sigma = numpyro.sample("cutoff_sigma", dist.LogNormal(jnp.log(0.5), 0.5))
    if n_gaps:
        with numpyro.plate("regime_gap_row", n_gaps):
            numpyro.sample("regime_escalation_gap_years", dist.Exponential(rate_e), obs=regime_escalation_gap_years)
    if escalation_open_years is not None:
        numpyro.factor("regime_escalation_censored", -rate_e * escalation_open_years)
    if n_truces:
        with numpyro.plate("regime_truce_row", n_truces):
            numpyro.sample("regime_truce_years", dist.Exponential(rate_t), obs=regime_truce_years)
    if truce_open_years is not None:
        numpyro.factor("regime_truce_censored", -rate_t * truce_open_years)
    if n_stoppages:
        with numpyro.plate("regime_stoppage_row", n_stoppages):
            numpyro.sample("regime_stoppage_days", dist.LogNormal(jnp.log(median), sigma), obs=regime_stoppage_days)
    if window_years is not None:
        numpyro.sample("regime_escalation_count", dist.Poisson(rate_e * window_years), obs=regime_escalation_count)


MODELS = {"licence": licence, "export_shock": export_shock, "inventory": inventory, "regime": regime}
