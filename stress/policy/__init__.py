"""Allied levers: the responses to coercion that the seed article weighs, as combinable options.

Each lever acts on a path only through the kernel's generic channels
(:mod:`stress.shocks.base`: capacity, link availability, tariffs, prices, public reserves,
rationing priority, price floors) and through :class:`stress.shocks.base.Effects` on the shock
modules' hazards (the regime chain, licence approvals, closures, takeovers). A lever draws only
from its own keys, so a path's shocks are identical whichever levers are on (common random
numbers): ``python -m stress compare`` measures every lever on the same paths.

Coalition cohesion: each member's participation in the joint levers is drawn per path
(:mod:`stress.policy.levers`, ``coalition.join_probability``); a joint lever acts only among the
members that joined. Costs are public outlays in the world's money unit over the horizon
(``policy_cost/<component>`` per path); tariff revenue and the extra cost of delivered prices are
reported apart.
"""
