"""``vllm-serving bake``: disk images made ahead of time for fast vLLM start-up on GKE.

``image-cache`` bakes container images into a disk image for a GKE secondary boot disk;
``weights-disk`` bakes model weights into a disk image and a pd-ssd disk per zone;
``cleanup`` removes what a crashed run left behind. The command entry is ``vllm_serving.bake.cli``.
"""
