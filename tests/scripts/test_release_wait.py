"""release.Release.wait's view of a workload: what a LeaderWorkerSet group or a Job still lacks.

The same code runs against the real controllers in tests/install (test_up, test_multinode); here the
objects are shaped as the Kubernetes client returns them.
"""

from __future__ import annotations

from types import SimpleNamespace

from vllm_serving.release import _groups_lack, _job_lacks


def pod(name: str, ready: bool = True) -> SimpleNamespace:
    condition = SimpleNamespace(type="Ready", status="True" if ready else "False")
    return SimpleNamespace(metadata=SimpleNamespace(name=name), status=SimpleNamespace(conditions=[condition]))


def lws(replicas: int, size: int) -> dict:
    return {"metadata": {"name": "g"}, "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": size}}}


def job(parallelism=2, completions=4, ready=0, succeeded=0, conditions=()) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(name="b"),
        spec=SimpleNamespace(parallelism=parallelism, completions=completions),
        status=SimpleNamespace(
            ready=ready,
            succeeded=succeeded,
            conditions=[SimpleNamespace(type=t, status="True", reason=r, message=m) for t, r, m in conditions],
        ),
    )


class TestGroups:
    def test_a_formed_group_lacks_nothing(self):
        assert _groups_lack(lws(2, 2), [pod("g-0"), pod("g-0-1"), pod("g-1"), pod("g-1-1")]) == []

    def test_a_leader_alone_is_not_a_group(self):
        assert _groups_lack(lws(1, 3), [pod("g-0"), pod("g-0-2", ready=False)]) == [
            "LeaderWorkerSet/g group 0: 1 of 3 pods Ready (not created: g-0-1; not Ready: g-0-2)"
        ]

    def test_every_group_is_counted(self):
        assert _groups_lack(lws(2, 2), [pod("g-0"), pod("g-0-1")]) == [
            "LeaderWorkerSet/g group 1: 0 of 2 pods Ready (not created: g-1, g-1-1)"
        ]


class TestJobs:
    def test_running_as_many_pods_as_allowed_or_complete(self):
        assert _job_lacks(job(ready=2)) == []
        assert _job_lacks(job(ready=1, succeeded=3)) == []  # one shard left
        assert _job_lacks(job(conditions=[("Complete", "", "")])) == []

    def test_pods_not_running(self):
        assert _job_lacks(job(ready=1)) == ["Job/b: 1 of 2 pods Ready, 0 of 4 done"]

    def test_a_failed_job_says_why(self):
        failed = job(conditions=[("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")])
        assert _job_lacks(failed) == [
            "Job/b: failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
        ]
