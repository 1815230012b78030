# The Dataflow worker image for `vllm-serving pipeline run --vllm-in-worker` (and for --endpoint workers
# without internet access): the chart's vLLM image
# (values.yaml image.repository:image.tag) with Beam's SDK worker and this package added. Build it from
# the repository root and push it where Dataflow can pull it:
#
#   docker build -f scripts/vllm_serving/pipeline/worker.Dockerfile -t REGION-docker.pkg.dev/P/R/vllm-beam-worker:v0.33.0 .
#
# Dataflow custom containers (https://cloud.google.com/dataflow/docs/guides/build-container-image): the
# Beam SDK version and the Python minor version must equal the launcher's, and the entrypoint is Beam's
# boot program. The boot (sdks/python/container/boot.go, Beam 2.77.0) runs `python` or `python3` and
# makes a venv with --system-site-packages, so the vLLM installed in the image stays importable, and
# Beam's vLLM handler starts `python -m vllm.entrypoints.openai.api_server` from it.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.33.0
# The one Beam pin: pyproject's [pipeline]/[dataflow] extras pin the same, `pipeline run` refuses another.
ARG BEAM_VERSION=2.77.0
ARG PYTHON_VERSION=3.12

FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION} AS beam

FROM ${VLLM_IMAGE}
ARG BEAM_VERSION
ARG PYTHON_VERSION
# Fail the build, not the job, when the vLLM image's Python is not the one the boot and launcher expect.
RUN python3 -c "import sys; v = '%d.%d' % sys.version_info[:2]; sys.exit(0 if v == '${PYTHON_VERSION}' else 'this vLLM image has Python ' + v + ': build with --build-arg PYTHON_VERSION=' + v)"
# Beam's dependencies with its Google Cloud I/O (Pub/Sub, GCS, Secret Manager), resolved by pip together
# with the image's vLLM so that no vLLM requirement is downgraded (the build fails if they cannot be
# resolved); then Beam itself with --no-deps: its one pin that conflicts with vLLM 0.33.0 (pillow<13)
# is left out of worker-requirements.txt, which says why. vLLM already brings openai, which Beam's
# handler imports. tests/pipeline/worker_venv.py builds the tests' worker from the same file.
COPY scripts/vllm_serving/pipeline/worker-requirements.txt /src/worker-requirements.txt
RUN python3 -m pip install --no-cache-dir -r /src/worker-requirements.txt
RUN python3 -m pip install --no-cache-dir --no-deps "apache-beam==${BEAM_VERSION}"
# pip check must find nothing broken but that one accepted conflict.
RUN broken="$(python3 -m pip check | grep -v -e '^No broken requirements found' -e "^apache-beam ${BEAM_VERSION} has requirement pillow<13,>=12.1.1, but you have pillow 13\.")"; \
    if [ -n "$broken" ]; then echo "$broken"; exit 1; fi
# The pipeline's own transforms (unpickled on the workers). Its command-line dependencies (helm,
# Kubernetes and Compute clients) are not needed there: the pipeline modules import none of them.
COPY pyproject.toml README.md /src/vllm-serving/
COPY scripts /src/vllm-serving/scripts
RUN python3 -m pip install --no-cache-dir --no-deps /src/vllm-serving
COPY --from=beam /opt/apache/beam /opt/apache/beam
# The vLLM image starts `vllm serve`; a Dataflow worker starts Beam's boot, which starts vLLM when asked.
ENTRYPOINT ["/opt/apache/beam/boot"]
