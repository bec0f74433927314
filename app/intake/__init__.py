"""Intake processing (一窗受理): uploaded drawing files become identified, viewable sheets.

See :mod:`app.intake.pipeline` for the ordered steps and their contract, :mod:`app.intake.tasks` for the jobs.
"""
