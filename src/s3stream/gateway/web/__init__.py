"""The upload page the gateway serves at ``/``: drag & drop, chunked and resumable
uploads with tus-js-client, live webcam/screen recording, and a list of finished uploads.

:class:`WebApp` is an ASGI app serving the page (``/``, ``/static/``), tus-js-client from
the wheel or ``node_modules`` (``/vendor/``) and a small JSON API (``/api/``);
:func:`with_web` puts it in front of the gateway app. The page's own code is in ``static/``
(no frameworks, no build).
"""

from s3stream.gateway.web.app import WebApp, with_web
from s3stream.gateway.web.finished import FinishedUpload, FinishedUploads
from s3stream.gateway.web.mode import DirectUploads, PageMode
from s3stream.gateway.web.vendor import TUS_JS_ENV, find_tus_js, require_tus_js

__all__ = [
    "TUS_JS_ENV",
    "DirectUploads",
    "FinishedUpload",
    "FinishedUploads",
    "PageMode",
    "WebApp",
    "find_tus_js",
    "require_tus_js",
    "with_web",
]
