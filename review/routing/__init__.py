"""Routing sheets to review tracks (分专项) and the intake completeness checklist (受理材料清单).

- :mod:`review.routing.kinds`: what a sheet shows (图纸类别), from its title and discipline;
- :mod:`review.routing.rules`: which tracks a sheet goes to and why, and the clerk's manual override;
- :mod:`review.routing.checklist`: per track, which sheets must be handed in, and whether the
  submission may be accepted, accepted on a commitment (容缺受理) or returned (退回补正).

Keywords, rules and checklists are data files in ``data/``, validated when loaded.
"""
