"""Test support, kept out of the installed package: fakes of the Google Cloud APIs, a local OpenAI-compatible
stub, rendered-manifest helpers and the Kubernetes/CRD schema checks (tests/ is on pytest's pythonpath)."""
