"""The Google Cloud layer that bake and nodepool share: API clients (clients), error mapping and retries (api),
long-running operations (operations), the Compute Engine calls of a bake (compute), the GKE node-pool request
(node_pools), the ledger of resources a run created (ledger), progress lines (progress), the clock and the
injectable runtime (clock, runtime), and the command-line options and argument checks both use (options).

Needs the package's [gcp] extra (vllm_serving.extras); nothing in here imports bake or a command."""
