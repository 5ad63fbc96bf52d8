"""The municipality's tax system, as the tax line reads it: a file imported nightly
(``file_backend``, ``importer``) or its HTTP service (``http_backend``)."""
