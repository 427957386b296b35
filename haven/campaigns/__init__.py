"""Campaigns: deep links, leaflets and the phrasebook (PDF), channel posts, the funnel report.

Templates (HTML/CSS/SVG a designer can edit) live in ``templates/``; texts come from the
gettext catalogs (leaflets) and ``haven/content/phrasebook`` (the phrasebook).
"""
