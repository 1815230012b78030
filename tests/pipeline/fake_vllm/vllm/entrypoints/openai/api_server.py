"""`python -m vllm.entrypoints.openai.api_server --model M --port P [flags]`, as Beam's handler starts it.

Writes its argv, pid and a digest of $HF_TOKEN (never the token) to $FAKE_VLLM_ARGV (for the test to
read and to stop it) and serves model M
on 127.0.0.1:P with the project's OpenAI stub until it is terminated or its parent is gone: Beam ends
the process that shares the model with SIGTERM or os._exit, which never stops the server it started.
"""

import hashlib
import json
import os
import signal
import sys
import threading

if os.environ.get("FAKE_VLLM_TESTS"):  # tests/, for the stub, without putting it on the worker's own path
    sys.path.insert(0, os.environ["FAKE_VLLM_TESTS"])

from support.openai_stub import OpenAIStub

argv = sys.argv[1:]
token = os.environ.get("HF_TOKEN")
record = {"argv": argv, "pid": os.getpid(), "hf_token_sha256": token and hashlib.sha256(token.encode()).hexdigest()}
with open(os.environ["FAKE_VLLM_ARGV"], "a+") as out:
    out.seek(0)
    first = not out.read()
    out.write(json.dumps(record) + "\n")
# $FAKE_VLLM_CRASH_AFTER=N: the first server started is killed (SIGKILL) after N answers, mid-run.
crash_after = int(os.environ.get("FAKE_VLLM_CRASH_AFTER") or 0) if first else 0
model = argv[argv.index("--model") + 1]
port = int(argv[argv.index("--port") + 1])
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
parent = os.getppid()
delay = float(os.environ.get("FAKE_VLLM_TOKEN_DELAY") or 0)
with OpenAIStub(models=[model], port=port, tokens=4, token_delay=delay) as stub:
    while not stopped.wait(0.05) and os.getppid() == parent:
        if crash_after and len(stub.chat_requests) >= crash_after:
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does
