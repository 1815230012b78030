"""``vllm-serving bake``: disk images made ahead of time for fast vLLM start-up on GKE.

``image-cache`` bakes container images into a disk image for a GKE secondary boot disk;
``weights-disk`` bakes model weights into a disk image and a pd-ssd disk per zone;
``cleanup`` removes what a crashed run left behind.

``plan`` is what every bake run needs (each bake's Plan extends it); ``baker`` one run: labels,
content hash, the resources it creates and removes, reuse and leftovers; ``build_vm`` what runs on the
temporary VM (startup.sh, its arguments, the serial-console verdict); ``chart`` what a bake reads from
the chart and hands back to it; ``image_cache`` and ``weights_disk`` the two bakes (a Plan in, a result out).
The command (options, checks, output) is vllm_serving.commands.bake; the argument checks are vllm_serving.gcp.options.
"""
