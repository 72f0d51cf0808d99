"""The workflows the CLI and the library API run, each over the backends it needs:

    prepare.py   a model file in, an artifact folder out (detect, gate, load, build, rename)
    save.py      an artifact in, a catalog model out (introspect, verify, zip, store)
    load.py      a model id, bucket URI, zip or folder in; a checked artifact folder out
    update.py    tag and metadata edits merged into a model's record
    upload.py    an artifact zipped (or a zip) put into a bucket
    serve.py     an artifact from anywhere load reads, served over HTTP (mdreg.server)
    score.py     a dataset in, the same rows with predictions out (mdreg.batch)
    predict.py   a data file in, a served model's answer out (mdreg.invoke)

The pieces they put together live in the packages below them: ``mdreg.artifact`` (the
artifact's files, zipping, unzipping), ``mdreg.catalog`` (the local and OCI catalogs),
``mdreg.storage`` (buckets), ``mdreg.checks`` (introspect, verify) and ``mdreg.scan``.
Nothing below imports a flow. Importing this package imports none of them.
"""
