"""Test support shipped with the package: fakes of the cloud APIs the tooling talks to."""
