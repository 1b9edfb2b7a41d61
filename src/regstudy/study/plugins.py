"""Before a study runs (and in --dry-run): can every launcher and sweeper its stages name be
loaded? A missing plugin otherwise surfaces only when the tuning stage starts."""

from __future__ import annotations

from typing import List, Optional

from ..record.run_record import override_key
from .spec import Study

PLUGIN_GROUPS = ("hydra/launcher", "hydra/sweeper")
HINTS = {"joblib": "pip install hydra-joblib-launcher",
         "submitit": "pip install 'regstudy[launchers]'"}


def planned(study: Study, base: List[str]) -> List[str]:
    """The Hydra overrides naming plugins or their settings that the stages will pass."""
    chosen = [o for o in [*study.launcher, *base] if o.lstrip("+~").startswith("hydra")]
    return [*chosen, "hydra/sweeper=optuna"]


def plugin_error(study: Study, base: List[str]) -> Optional[str]:
    """One line naming the launcher or sweeper that cannot be loaded, or None."""
    from hydra.core.plugins import Plugins

    from ..config.compose import compose
    from ..search.config import register_plugin

    register_plugin()
    overrides = planned(study, base)
    composable = [o for o in base if not o.lstrip("+~").startswith("hydra")]
    try:
        cfg = compose([*composable, *overrides], return_hydra_config=True)
    except Exception as err:   # Hydra: "Could not find 'hydra/launcher/NAME'", a wrong key
        text = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        first = next((ln for ln in text if "Could not" in ln), text[0] if text else
                     type(err).__name__)
        groups = [o for o in overrides if override_key(o) in PLUGIN_GROUPS]
        named = " ".join([o for o in groups if override_key(o) in first]
                         or groups)
        hint = next((h for k, h in HINTS.items() if k in named and k in first), None)
        return f"{named}: cannot be loaded ({first}){'; ' + hint if hint else ''}"
    known = Plugins.instance().class_name_to_class
    for group in ("launcher", "sweeper"):
        target = str(cfg.hydra[group].get("_target_", ""))
        if target not in known:
            return (f"hydra/{group}: {target} is not an installed Hydra plugin "
                    f"(pip install 'regstudy[launchers]' for joblib and submitit)")
    return None
