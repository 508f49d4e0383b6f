"""classify-workflows with its batches on a real Dask cluster (scheduler on 127.0.0.1)."""

from __future__ import annotations

import pytest

from flows.workflow_health import classify_on_dask, classify_workflows

pytestmark = pytest.mark.integration


def test_batches_run_on_the_cluster_with_the_same_verdicts(prefect_api: None, tmp_path) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        Client(cluster) as client,
    ):
        common = {"corpus": "sample", "record": False, "jobs": 2}
        local = classify_workflows(out=str(tmp_path / "local"), **common)
        on_dask = classify_on_dask(cluster.scheduler_address)(out=str(tmp_path / "dask"), **common)
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
        )

    assert "check_batch" in prefixes  # the batches ran on the cluster's workers
    verdicts = {(f.path, f.code_name, f.line) for f in local.files}
    assert {(f.path, f.code_name, f.line) for f in on_dask.files} == verdicts
    assert on_dask.summary == local.summary
