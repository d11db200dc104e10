"""The mechanism chain, one module per link (equations only; the solver wires them).

PK (``ketasim.pk``) -> effect site (``effect_site``) -> NMDA block (``receptor``) -> glutamate and AMPA
(``circuit``) -> BDNF / TrkB / mTORC1 / eEF2 (``signalling``) -> synaptic proteins, spines, IL-6
(``plasticity``) -> symptoms (``symptoms``) and side effects (``side_effects``).

Every state follows ``dx/dt = k * (target(upstream) - x)`` (or a linear PK block), so the whole model is a
feed-forward cascade of first-order filters joined by smooth algebraic links. The functions here compute the
targets; they take and return plain floats in the units stated in each docstring.
"""
