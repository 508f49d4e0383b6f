"""Former home of the names now in clock.py, keys.py, ui_links.py and markdown.py.

Re-exports only, for the modules this split did not edit (tasks/lora, tasks/events,
tasks/matrix, flows/gpu_matrix.py, flows/lora_deploy.py, tasks/platform/steps.py, cli/output.py,
cli/engine.py, cli/matrix.py and their tests). New code imports from the modules themselves;
delete this file once nothing imports it.
"""

from __future__ import annotations

from tasks.platform.clock import iso_utc, run_stamp, utc_now
from tasks.platform.keys import artifact_key, event_name, resource_id, slug
from tasks.platform.markdown import md_cell
from tasks.platform.ui_links import flow_run_link, local_api_url, ui_url

__all__ = [
    "artifact_key",
    "event_name",
    "flow_run_link",
    "iso_utc",
    "local_api_url",
    "md_cell",
    "resource_id",
    "run_stamp",
    "slug",
    "ui_url",
    "utc_now",
]
