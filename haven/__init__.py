"""haven: an open platform for running a surrender-assistance hotline."""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("HAVEN_PASSPHRASE"):
    # Before anything else is imported: a process that holds the passphrase is closed to
    # other processes of its user from its first moments (haven.hardening).
    from haven.hardening import refuse_inspection as _refuse

    _refuse()
