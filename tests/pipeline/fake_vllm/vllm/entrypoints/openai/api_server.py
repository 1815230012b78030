"""`python -m vllm.entrypoints.openai.api_server --model M --port P [flags]`, as Beam's handler starts it.

Writes its argv and pid to $FAKE_VLLM_ARGV (for the test to read and to stop it) and serves model M
on 127.0.0.1:P with the project's OpenAI stub until it is terminated or its parent is gone: Beam ends
the process that shares the model with SIGTERM or os._exit, which never stops the server it started.
"""

import json
import os
import signal
import sys
import threading

from support.openai_stub import OpenAIStub

argv = sys.argv[1:]
with open(os.environ["FAKE_VLLM_ARGV"], "a") as out:
    out.write(json.dumps({"argv": argv, "pid": os.getpid()}) + "\n")
model = argv[argv.index("--model") + 1]
port = int(argv[argv.index("--port") + 1])
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
parent = os.getppid()
with OpenAIStub(models=[model], port=port, tokens=4):
    while not stopped.wait(0.5) and os.getppid() == parent:
        pass
