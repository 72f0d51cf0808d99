"""The model server behind ``mdreg serve``: an artifact's score.py behind HTTP, as the
OCI model deployment runs it.

    supervisor   ``run``: uvicorn serving the app in this process, until SIGINT/SIGTERM
    app          the ASGI application: /predict and /health with the service's status
                 codes, body limits and timeout
    pool         the model workers (mdreg.worker): processes that each load score.py once
                 and take one request at a time; replaced when they die or overstay the
                 timeout
    settings     the options and the service's limits
    access_log   one line per request on stderr, text or JSON

Needs the ``serve`` extra (uvicorn); nothing here is imported by ``import mdreg`` or
``mdreg --help``.
"""
