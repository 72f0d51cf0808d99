"""Talking to OCI: settings, authentication, SDK clients, retries, error translation and
work requests.

    settings.py       what to talk to and how: flags > environment > config.toml > defaults
    auth.py           the four ways OCI users authenticate, as an SDK (config, signer) pair
    clients.py        Data Science and Object Storage clients built from the settings
    errors.py         SDK exceptions -> mdreg errors (RemoteError, exit 5, with the request id)
    retry.py          retries with backoff for streamed uploads the SDK cannot rewind
    work_requests.py  a Data Science work request followed to its end (export, import)

The ``oci`` package is imported only inside the functions that need it: importing this
package (or ``mdreg``) costs nothing.
"""
