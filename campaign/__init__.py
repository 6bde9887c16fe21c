"""The scripts of the SMB world-model campaign (docs/WORLD_MODEL_CAMPAIGN.md): run as ``python campaign/NAME.py``,
also importable (``from campaign import NAME``) by the tests; not in the wheel."""
