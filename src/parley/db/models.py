"""Imports every domain's models so the metadata is complete (for Alembic and tests)."""

from parley.accounts import models as accounts_models
from parley.agents import models as agents_models
from parley.corpora import models as corpora_models
from parley.db.base import Base
from parley.flags import models as flags_models
from parley.integrations import models as integrations_models
from parley.jobs import models as jobs_models
from parley.llm import models as llm_models
from parley.notifications import models as notifications_models
from parley.projects import models as projects_models
from parley.responses import models as responses_models
from parley.surfaces.kore import models as kore_models
from parley.threads import models as threads_models
from parley.tools import models as tools_models
from parley.usage import models as usage_models

__all__ = [
    "Base",
    "accounts_models",
    "agents_models",
    "corpora_models",
    "flags_models",
    "integrations_models",
    "jobs_models",
    "kore_models",
    "llm_models",
    "notifications_models",
    "projects_models",
    "responses_models",
    "threads_models",
    "tools_models",
    "usage_models",
]
