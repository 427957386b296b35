"""Compile the gettext catalogs (.po -> .mo) whenever the package is built or installed."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        root = Path(__file__).resolve().parent / "haven" / "content" / "locale"
        for po in root.glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as fh:
                catalog = read_po(fh)
            with po.with_suffix(".mo").open("wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogs})
